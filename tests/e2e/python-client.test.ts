import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startServerProcess } from '../helpers/server-process.js';
import { createTestDatabaseOptions } from '../helpers/test-database.js';

const run = promisify(execFile);
const python = '/usr/bin/python3';

async function missing(): Promise<string | false> {
  if (!existsSync(python)) return `${python} not found`;
  try {
    await run(python, ['-c', 'import grpc, google.protobuf']);
    await run('sh', ['-c', 'command -v protoc && command -v grpc_python_plugin']);
  } catch {
    return 'needs Debian python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc (.ci/run installs them)';
  }
  return false;
}

describe('the seed README Python gRPC client', async () => {
  const skip = await missing();
  it('calls Health.Check and the orchestrator with code from `buf generate`', { skip }, async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'py-client-'));
    const store = createTestDatabaseOptions();
    const server = await startServerProcess(store.env);
    try {
      // The Python half of buf.gen.clients.yaml, into a temporary directory.
      const template = JSON.stringify({
        version: 'v2',
        plugins: [
          { protoc_builtin: 'python', out: 'python' },
          { local: 'grpc_python_plugin', out: 'python' },
        ],
      });
      await run('node_modules/.bin/buf', ['generate', '--template', template, '-o', out]);
      const { stdout } = await run(python, ['tests/clients/python_health_check.py', `127.0.0.1:${server.port}`], {
        env: { ...process.env, PYTHONPATH: path.join(out, 'python') },
      });
      const [status, machines, missingWorkflow] = stdout.trim().split('\n');
      assert.equal(status, 'SERVING_STATUS_SERVING');
      assert.ok(machines?.split(',').includes('agent-task'), machines);
      assert.equal(missingWorkflow, 'NOT_FOUND');
    } finally {
      await server.stop();
      await store.cleanup();
      await rm(out, { recursive: true, force: true });
    }
  });
});
