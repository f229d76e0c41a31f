/// A rule as data: its ID and the categories it belongs to in v1 and v2
/// configs (nil = not present in that version). Deprecated rules are kept
/// (as no-ops) so existing buf.yaml files that name them still load.
struct RuleSpec {
    let id: String
    let v1: Set<String>?
    let v2: Set<String>?
    var deprecated = false
}

enum RuleSelection {
    static let lintCategories: Set<String> = ["MINIMAL", "BASIC", "STANDARD", "DEFAULT", "COMMENTS", "UNARY_RPC"]
    static let breakingCategories: Set<String> = ["FILE", "PACKAGE", "WIRE_JSON", "WIRE", "CSR"]

    /// The rule IDs that `use` minus `except` selects. Unknown names are an error.
    static func select(_ specs: [RuleSpec], config: CheckConfig, version: String) throws -> [String] {
        let v2 = version == "v2"
        func categories(_ s: RuleSpec) -> Set<String>? { v2 ? s.v2 : s.v1 }
        let known = Set(specs.filter { categories($0) != nil }.map(\.id))
        func expand(_ names: [String]) throws -> Set<String> {
            var out: Set<String> = []
            for n in names {
                let name = n == "DEFAULT" ? "STANDARD" : n
                if known.contains(name) { out.insert(name); continue }
                let members = specs.filter { categories($0)?.contains(name) ?? false }.map(\.id)
                guard !members.isEmpty || lintCategories.contains(name) || breakingCategories.contains(name) else {
                    throw CheckError.config("unknown rule or category \"\(n)\"")
                }
                out.formUnion(members)
            }
            return out
        }
        let chosen = try expand(config.use).subtracting(try expand(config.except))
        return specs.map(\.id).filter { chosen.contains($0) }
    }
}

public enum CheckError: Error, CustomStringConvertible {
    case config(String)
    case input(String)
    public var description: String {
        switch self {
        case .config(let s): return "configuration error: \(s)"
        case .input(let s): return s
        }
    }
}
