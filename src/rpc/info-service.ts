import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import { GetInfoResponseSchema, ToolStatusSchema, type InfoService } from '../../gen/info/v1/info_pb.js';
import type { BuildInfo } from '../build-info.js';

export interface InfoSource {
  build: BuildInfo;
  storeKind: string;
  busKind: string;
  protocols: readonly string[];
  /** Breaker and bulkhead state per tool, read at each call. */
  tools: () => readonly { tool: string; breaker: string; active: number; queued: number; maxConcurrent: number; maxQueue: number }[];
}

/** info.v1.InfoService: what this process is and what it is connected to. */
export function infoService(source: InfoSource): ServiceImpl<typeof InfoService> {
  const { build } = source;
  return {
    getInfo: () =>
      create(GetInfoResponseSchema, {
        name: build.name,
        version: build.version,
        gitCommit: build.gitCommit,
        buildTime: build.buildTime ? timestampFromDate(build.buildTime) : undefined,
        startTime: timestampFromDate(build.startTime),
        uptimeSeconds: (Date.now() - build.startTime.getTime()) / 1000,
        nodeVersion: process.version,
        storeKind: source.storeKind,
        busKind: source.busKind,
        protocols: [...source.protocols],
        instanceId: build.instanceId,
        tools: source.tools().map((t) => create(ToolStatusSchema, { name: t.tool, breaker: t.breaker, active: t.active, queued: t.queued, maxConcurrent: t.maxConcurrent, maxQueue: t.maxQueue })),
      }),
  };
}
