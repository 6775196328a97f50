import type { WorkflowDefinition } from '../src/engine/machine-kit.js';
import { agentTask } from './agent-task.js';
import { agentTaskV2 } from './agent-task-v2.js';
import { incidentTriage } from './incident-triage.js';
import { incidentTriageV2 } from './incident-triage-v2.js';

/**
 * Every machine version the service loads. Never edit a released version in place: add the
 * new version next to it and keep the old one here while instances of it are active (start-up
 * refuses to run when an active instance's version is missing or changed).
 */
export const shippedMachines: readonly WorkflowDefinition[] = [agentTask, agentTaskV2, incidentTriage, incidentTriageV2];
