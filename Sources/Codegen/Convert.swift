import Foundation
import ProtoWire

/// `contracts convert`: binary <-> JSON for any message type of a descriptor
/// set, through the dynamic codec (which shares the runtime with generated code).
public struct ConvertRequest: Sendable {
    public enum Format: String, Sendable { case binary, json }
    public var typeName: String
    public var from: Format
    public var to: Format
    /// A FileDescriptorSet file; nil compiles `protoRoot` (every contract) plus the well-known types.
    public var descriptorSet: String?
    public var protoRoot: String = "proto"
    public var jsonEncoding = JSONEncodingOptions()
    public var jsonDecoding = JSONDecodingOptions()

    public init(typeName: String, from: Format, to: Format, descriptorSet: String? = nil) {
        self.typeName = typeName
        self.from = from
        self.to = to
        self.descriptorSet = descriptorSet
    }
}

public enum Converter {
    public static func pool(for request: ConvertRequest) throws -> DescriptorPool {
        let set: FileDescriptorSet
        if let path = request.descriptorSet {
            set = try Protoc.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        } else {
            set = try Protoc.descriptorSet(root: request.protoRoot, files: try Protoc.listProtoFiles(under: request.protoRoot) + Generator.standardWellKnownFiles)
        }
        return DescriptorPool(set)
    }

    public static func convert(_ input: [UInt8], _ request: ConvertRequest, pool: DescriptorPool) throws(DynamicCodecError) -> [UInt8] {
        guard let type = pool.message(request.typeName) else { throw .unknownType(request.typeName) }
        let message: DynamicMessage
        switch request.from {
        case .binary: message = try DynamicMessage(type: type, serializedBytes: input)
        case .json: message = try DynamicMessage(type: type, jsonBytes: input, options: request.jsonDecoding)
        }
        switch request.to {
        case .binary: return message.serializedBytes(deterministic: true)
        case .json: return try message.jsonBytes(options: request.jsonEncoding)
        }
    }
}
