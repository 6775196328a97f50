import {
  create,
  toBinary,
  type DescEnum,
  type DescExtension,
  type DescFile,
  type DescMessage,
  type FileRegistry,
  type Registry,
} from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, type ConnectRouter } from '@connectrpc/connect';
import * as v1 from '../../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';

/**
 * The request shape common to grpc.reflection.v1 and v1alpha (the two
 * packages declare identical messages; only the type names differ).
 */
type ReflectionRequest = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;

/** The `message_response` oneof as a plain init value, valid for both versions. */
type ReflectionAnswer =
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: 'allExtensionNumbersResponse'; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: 'listServicesResponse'; value: { service: { name: string }[] } }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };

const notFound = (what: string): ReflectionAnswer => ({
  case: 'errorResponse',
  value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
});

/**
 * Everything reflection can answer, computed once from the served files:
 * files by name (with their transitive imports), the file declaring each
 * fully-qualified symbol, and extensions by extendee.
 */
class ReflectionIndex {
  private readonly services: string[] = [];
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly messages = new Set<string>();
  private readonly extensions = new Map<string, Map<number, DescFile>>();
  private readonly encoded = new Map<DescFile, Uint8Array>();

  constructor(served: Iterable<DescFile>) {
    for (const file of served) {
      for (const service of file.services) {
        if (!this.services.includes(service.typeName)) this.services.push(service.typeName);
      }
      this.addFile(file);
    }
  }

  answer(request: ReflectionRequest): ReflectionAnswer {
    const { messageRequest: r } = request;
    switch (r.case) {
      case 'listServices':
        return { case: 'listServicesResponse', value: { service: this.services.map((name) => ({ name })) } };
      case 'fileByFilename':
        return this.fileResponse(this.files.get(r.value), `file ${JSON.stringify(r.value)}`);
      case 'fileContainingSymbol':
        return this.fileResponse(this.symbols.get(r.value), `symbol ${JSON.stringify(r.value)}`);
      case 'fileContainingExtension': {
        const { containingType, extensionNumber } = r.value;
        return this.fileResponse(
          this.extensions.get(containingType)?.get(extensionNumber),
          `extension ${extensionNumber} of ${JSON.stringify(containingType)}`,
        );
      }
      case 'allExtensionNumbersOfType': {
        // Only a message can be extended; any other symbol is not a type here.
        if (!this.messages.has(r.value)) return notFound(`message type ${JSON.stringify(r.value)}`);
        const numbers = [...(this.extensions.get(r.value)?.keys() ?? [])];
        return { case: 'allExtensionNumbersResponse', value: { baseTypeName: r.value, extensionNumber: numbers } };
      }
      default:
        return {
          case: 'errorResponse',
          value: { errorCode: Code.InvalidArgument, errorMessage: 'no message_request set' },
        };
    }
  }

  /**
   * The file first, then every file it imports, transitively, each once: a
   * client can build the file's descriptors from this answer alone. Files
   * already sent earlier in the stream are sent again (allowed, and simpler
   * for clients that do not cache).
   */
  private fileResponse(file: DescFile | undefined, what: string): ReflectionAnswer {
    if (!file) return notFound(what);
    const closure = new Set<DescFile>();
    const visit = (f: DescFile) => {
      if (closure.has(f)) return;
      closure.add(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return { case: 'fileDescriptorResponse', value: { fileDescriptorProto: [...closure].map((f) => this.encode(f)) } };
  }

  private encode(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.encoded.set(file, bytes);
    }
    return bytes;
  }

  private addFile(file: DescFile): void {
    const name = file.proto.name;
    // The first file registered under a name wins (two copies of e.g.
    // timestamp.proto from different package versions describe the same thing).
    if (this.files.has(name)) return;
    this.files.set(name, file);
    file.dependencies.forEach((dep) => this.addFile(dep));
    const pkg = file.proto.package;
    for (const service of file.services) {
      this.addSymbol(service.typeName, file);
      for (const method of service.methods) this.addSymbol(`${service.typeName}.${method.name}`, file);
    }
    file.enums.forEach((e) => this.addEnum(e, pkg));
    file.messages.forEach((m) => this.addMessage(m));
    file.extensions.forEach((x) => this.addExtension(x));
  }

  private addMessage(message: DescMessage): void {
    this.addSymbol(message.typeName, message.file);
    this.messages.add(message.typeName);
    for (const field of message.fields) this.addSymbol(`${message.typeName}.${field.name}`, message.file);
    for (const oneof of message.oneofs) this.addSymbol(`${message.typeName}.${oneof.name}`, message.file);
    message.nestedEnums.forEach((e) => this.addEnum(e, message.typeName));
    message.nestedMessages.forEach((m) => this.addMessage(m));
    message.nestedExtensions.forEach((x) => this.addExtension(x));
  }

  /** Enum values are scoped beside their enum (C++ scoping), as protoc resolves them. */
  private addEnum(desc: DescEnum, scope: string): void {
    this.addSymbol(desc.typeName, desc.file);
    for (const value of desc.values) this.addSymbol(scope ? `${scope}.${value.name}` : value.name, desc.file);
  }

  private addExtension(ext: DescExtension): void {
    this.addSymbol(ext.typeName, ext.file);
    let byNumber = this.extensions.get(ext.extendee.typeName);
    if (!byNumber) this.extensions.set(ext.extendee.typeName, (byNumber = new Map()));
    if (!byNumber.has(ext.number)) byNumber.set(ext.number, ext.file);
  }

  private addSymbol(name: string, file: DescFile): void {
    if (!this.symbols.has(name)) this.symbols.set(name, file);
  }
}

/** The files a registry describes: its files, or the files of its types. */
function filesOf(source: readonly DescFile[] | Registry): Iterable<DescFile> {
  if (Array.isArray(source)) return source as readonly DescFile[];
  const registry = source as Registry;
  if ('files' in registry) return (registry as FileRegistry).files;
  return new Set([...registry].map((desc) => desc.file));
}

/**
 * gRPC server reflection (grpc.reflection.v1 and the deprecated v1alpha that
 * older clients still call, one shared implementation), so grpcurl,
 * `buf curl` and Postman can discover and call the server without .proto files.
 *
 * `source` is what the server serves: the files (generated `file_*`
 * exports) or a registry of them. Their imports, including the
 * google/protobuf well-known types, are found through the descriptors;
 * only the given files' services are listed, plus both reflection services.
 *
 * Each request on the bidi stream gets exactly one response, in order,
 * echoing `host` as `valid_host` and the request as `original_request`.
 * A file, symbol or extension that is not known is answered with an
 * `error_response` (NOT_FOUND, 5) and the stream stays open; a request with
 * no `message_request` gets INVALID_ARGUMENT (3) the same way.
 * The index is built once here: files registered later are not seen.
 */
export function reflectionRoutes(source: readonly DescFile[] | Registry): (router: ConnectRouter) => void {
  const index = new ReflectionIndex([
    ...filesOf(source),
    v1.file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ]);
  return (router) => {
    router.service(v1.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield create(v1.ServerReflectionResponseSchema, {
            validHost: request.host,
            originalRequest: request,
            messageResponse: index.answer(request),
          });
        }
      },
    });
    router.service(v1alpha.ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) {
          yield create(v1alpha.ServerReflectionResponseSchema, {
            validHost: request.host,
            originalRequest: request,
            messageResponse: index.answer(request),
          });
        }
      },
    });
  };
}
