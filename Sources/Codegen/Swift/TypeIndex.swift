// Resolves fully qualified proto type names (".pkg.Outer.Inner") to Swift
// names and descriptors, across every file of a descriptor set.

struct TypeIndex {
    enum Entry {
        case message(MessageDescriptor, swiftName: String, file: String)
        case enumeration(EnumDescriptor, swiftName: String, file: String)

        var swiftName: String {
            switch self {
            case .message(_, let n, _), .enumeration(_, let n, _): return n
            }
        }
    }

    private(set) var entries: [String: Entry] = [:]
    /// Fields (by "Message.field" key) that must be boxed to break a cycle of singular message fields.
    private(set) var boxedFields: Set<String> = []

    init(files: [FileDescriptor], stripping prefixes: [String]) {
        for file in files {
            let ns = Naming.namespace(forPackage: file.package, stripping: prefixes)
            let protoPrefix = file.package.isEmpty ? "" : "." + file.package
            for m in file.messages { addMessage(m, protoPrefix: protoPrefix, swiftPrefix: ns, file: file.name) }
            for e in file.enums {
                let swift = (ns.isEmpty ? "" : ns + ".") + Naming.typeName(e.name)
                entries[protoPrefix + "." + e.name] = .enumeration(e, swiftName: swift, file: file.name)
            }
        }
        computeBoxedFields()
    }

    private mutating func addMessage(_ m: MessageDescriptor, protoPrefix: String, swiftPrefix: String, file: String) {
        let proto = protoPrefix + "." + m.name
        let swift = (swiftPrefix.isEmpty ? "" : swiftPrefix + ".") + Naming.typeName(m.name)
        entries[proto] = .message(m, swiftName: swift, file: file)
        for n in m.nested { addMessage(n, protoPrefix: proto, swiftPrefix: swift, file: file) }
        for e in m.enums {
            entries[proto + "." + e.name] = .enumeration(e, swiftName: swift + "." + Naming.typeName(e.name), file: file)
        }
    }

    func message(_ name: String) -> MessageDescriptor? {
        if case .message(let m, _, _)? = entries[name] { return m }
        return nil
    }

    func enumDescriptor(swiftName: String) -> EnumDescriptor? {
        for case .enumeration(let e, let name, _) in entries.values where name == swiftName { return e }
        return nil
    }

    func swiftName(_ protoName: String) -> String { entries[protoName]?.swiftName ?? "UNRESOLVED\(protoName)" }

    /// A field is boxed when it is a singular message field (oneof members
    /// included) whose type can reach the containing message again through
    /// singular message fields only. Repeated and map fields already live on
    /// the heap, so they never need a box.
    private mutating func computeBoxedFields() {
        var edges: [String: [(field: String, target: String)]] = [:]
        for (name, entry) in entries {
            guard case .message(let m, _, _) = entry else { continue }
            for f in m.fields where f.kind == .message && !f.isRepeated {
                edges[name, default: []].append((f.name, f.typeName))
            }
        }
        func reaches(_ from: String, _ goal: String) -> Bool {
            var seen: Set<String> = []
            var stack = [from]
            while let n = stack.popLast() {
                if n == goal { return true }
                if !seen.insert(n).inserted { continue }
                for e in edges[n] ?? [] { stack.append(e.target) }
            }
            return false
        }
        for (name, list) in edges {
            for e in list where reaches(e.target, name) { boxedFields.insert(name + "." + e.field) }
        }
    }

    func isBoxed(message: String, field: String) -> Bool { boxedFields.contains(message + "." + field) }
}
