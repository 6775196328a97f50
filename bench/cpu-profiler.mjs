// Loaded into the server with NODE_OPTIONS="--import <this file>" by bench-server.ts when the
// harness runs with --cpu-prof: Node 20 refuses --cpu-prof in NODE_OPTIONS, and the server is
// started by tests/helpers/server-process.ts, which takes no node flags. Plain JavaScript
// because it loads before tsx is registered.
//
// Profiles the whole process with the in-process inspector and writes a .cpuprofile (open it
// in Chrome DevTools or speedscope) into BENCH_CPU_PROF_DIR when the process exits normally
// (the server exits through process.exit after SIGTERM). The in-process session answers
// synchronously, which is what lets the 'exit' handler finish the profile.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (error, result) => {
      if (error) return process.stderr.write(`cpu profile not written: ${error.message}\n`);
      const file = join(dir, `server-${process.pid}-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(result.profile));
      process.stderr.write(`${JSON.stringify({ level: 'info', msg: 'cpu profile written', file })}\n`);
    });
  });
}
