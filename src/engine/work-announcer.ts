import type { EngineLogger } from './engine-options.js';
import type { EventBus, Unsubscribe, WorkMessage } from './ports/event-bus.js';
import type { TaskRecord, TimerRecord } from './ports/workflow-store.js';

/** What a work announcement from another replica triggers here. */
export interface WorkListener {
  /** Tasks nobody owns were committed: claim now. */
  tasks(): void;
  /** A timer was armed for `dueAt`: be awake then too, so replicas share due timers. */
  timer(dueAt: Date): void;
}

/**
 * Wakes other replicas for work they can claim, over the bus's small work channel (not the
 * firehose): a task committed without an owner (this replica had no room), or a newly armed
 * timer. Delivery is best effort; the task and timer polls stay the fallback, so a lost message
 * delays work by at most one poll interval and never loses it.
 *
 * Why the bus and not Postgres LISTEN/NOTIFY: NOTIFY in the commit takes a database-wide lock at
 * commit time (it serializes every notifying transaction) and needs a connection per replica held
 * outside the pool; the bus is already connected and the message goes out after the commit,
 * off the commit path.
 */
export class WorkAnnouncer {
  #unsubscribe: Unsubscribe | undefined;

  constructor(
    private readonly bus: EventBus,
    private readonly instanceId: string,
    private readonly logger: EngineLogger,
  ) {}

  async start(listener: WorkListener): Promise<void> {
    if (this.#unsubscribe) return;
    this.#unsubscribe = await this.bus.subscribeWork((message) => {
      if (message.from === this.instanceId) return;
      if (message.kind === 'task') listener.tasks();
      else listener.timer(new Date(message.dueAt));
    });
  }

  async stop(): Promise<void> {
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    await unsubscribe?.();
  }

  /** After a commit: announce what other replicas may claim (also when this engine is not started). */
  announce(created: TaskRecord[], armed: TimerRecord[]): void {
    if (created.some((task) => task.leaseOwner === null)) this.#send({ kind: 'task', from: this.instanceId });
    const earliest = earliestDue(armed);
    if (earliest) this.#send({ kind: 'timer', from: this.instanceId, dueAt: earliest.toISOString() });
  }

  /** Tasks this engine held went back to pending (it is stopping). */
  tasksReleased(): void {
    this.#send({ kind: 'task', from: this.instanceId });
  }

  #send(message: WorkMessage): void {
    this.bus.publishWork(message).catch((error: unknown) => this.logger.warn('announcing work failed', { kind: message.kind, error }));
  }
}

/** The earliest due time of `timers`, if any. */
export function earliestDue(timers: TimerRecord[]): Date | undefined {
  return timers.reduce<Date | undefined>((min, t) => (!min || t.dueAt < min ? t.dueAt : min), undefined);
}
