import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import { GetInfoResponseSchema, type InfoService } from '../../gen/info/v1/info_pb.js';
import type { BuildInfo } from '../build-info.js';

export interface InfoSource {
  build: BuildInfo;
  storeKind: string;
  busKind: string;
  protocols: readonly string[];
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
      }),
  };
}
