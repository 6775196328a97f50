import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WorkflowDefinition } from './engine/machine-kit.js';
import type { ToolAdapter } from './tools/tool-registry.js';

/** Machines and tool adapters contributed by `EXTRA_MODULES` (tests and extensions). */
export interface ExtraModules {
  machines: WorkflowDefinition[];
  tools: Record<string, ToolAdapter>;
}

/**
 * Imports each module (a path resolved from the working directory) and collects its optional
 * exports `machines: WorkflowDefinition[]` and `tools: Record<string, ToolAdapter>`. Throws when
 * a module cannot be imported, an export has the wrong shape, or two modules define one tool:
 * a wiring mistake stops start-up instead of failing workflows later.
 */
export async function loadExtraModules(paths: readonly string[]): Promise<ExtraModules> {
  const loaded: ExtraModules = { machines: [], tools: {} };
  for (const path of paths) {
    const module = (await import(pathToFileURL(resolve(path)).href)) as { machines?: unknown; tools?: unknown };
    if (module.machines !== undefined) {
      if (!Array.isArray(module.machines)) throw new Error(`extra module ${path}: 'machines' must be an array of workflow definitions`);
      loaded.machines.push(...(module.machines as WorkflowDefinition[]));
    }
    if (module.tools !== undefined) {
      if (typeof module.tools !== 'object' || module.tools === null) throw new Error(`extra module ${path}: 'tools' must be an object of tool adapters`);
      for (const [src, adapter] of Object.entries(module.tools)) {
        if (typeof adapter !== 'function') throw new Error(`extra module ${path}: tool '${src}' is not a function`);
        if (src in loaded.tools) throw new Error(`extra module ${path}: tool '${src}' is defined twice`);
        loaded.tools[src] = adapter as ToolAdapter;
      }
    }
  }
  return loaded;
}
