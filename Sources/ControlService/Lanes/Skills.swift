import APIRuntime
import Foundation
import Generated
import ProtoWire
import RuntimeCore

/// The skill and tool registry: versioned specs (id, semantic version, JSON
/// Schema objects), registered once per version (the same content again is a
/// replay, other content 409), and immutable releases of skill versions.
extension ControlHandler {
    static func validID(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, ("a"..."z").contains(first), s.count <= 64 else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "_" || $0 == "-" }
    }

    /// MAJOR.MINOR.PATCH with an optional -prerelease (semver.org 2.0.0, no build metadata).
    static func validVersion(_ v: String) -> Bool {
        let main = v.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let nums = main[0].split(separator: ".", omittingEmptySubsequences: false)
        guard nums.count == 3, nums.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) && ($0 == "0" || $0.first != "0") }) else { return false }
        if main.count == 2 {
            let pre = main[1].split(separator: ".", omittingEmptySubsequences: false)
            return !pre.isEmpty && pre.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } }
        }
        return true
    }

    /// A JSON Schema object: `{"type": "object", ...}`.
    static func schemaProblem(_ s: GoogleProtobuf.Struct?) -> String? {
        guard let s else { return "is required (a JSON Schema object)" }
        guard case .stringValue("object")? = s.fields["type"]?.kind else { return "must be a JSON Schema with \"type\": \"object\"" }
        if let p = s.fields["properties"], case .structValue = p.kind {} else if s.fields["properties"] != nil { return "properties must be an object" }
        return nil
    }

    static func fieldErrors(_ problems: [(String, String)]) -> APIError {
        APIError(.unprocessable, "invalid_request", problems.map { "\($0.0) \($0.1)" }.joined(separator: "; "), details: problems.map { "\($0.0): \($0.1)" })
    }

    static func sameContent<M: ProtoMessage & Equatable>(_ a: M, _ b: M) -> Bool { a == b }

    public func listToolSpecs(_ request: ControlV1.ListToolSpecsRequest, context: RequestContext) async throws -> APIResponse<ControlV1.ToolSpecListResponse> {
        _ = try session(context)
        var out = ControlV1.ToolSpecListResponse()
        out.data = store.read { $0.toolSpecs.values.sorted { ($0.toolId, $0.version) < ($1.toolId, $1.version) } }
        return APIResponse(out)
    }

    public func createToolSpec(_ request: ControlV1.CreateToolSpecRequest, context: RequestContext) async throws -> APIResponse<ControlV1.ToolSpecResponse> {
        _ = try session(context)
        var spec = request.spec ?? ControlV1.ToolSpecRecord()
        var problems: [(String, String)] = []
        if !ControlHandler.validID(spec.toolId) { problems.append(("spec.tool_id", "must be a lowercase id (a-z, 0-9, . _ -), at most 64 characters")) }
        if !ControlHandler.validVersion(spec.version) { problems.append(("spec.version", "must be a semantic version (1.2.3)")) }
        if let p = ControlHandler.schemaProblem(spec.inputSchema) { problems.append(("spec.input_schema", p)) }
        if let p = ControlHandler.schemaProblem(spec.outputSchema) { problems.append(("spec.output_schema", p)) }
        if !problems.isEmpty { throw ControlHandler.fieldErrors(problems) }
        let now = ControlClock.now()
        spec.createdAt = ""
        let proposed = spec
        let (stored, replay) = try await store.commit { state throws(APIError) in
            if let existing = state.toolSpecs[ControlState.versionKey(proposed.toolId, proposed.version)] {
                var bare = existing
                bare.createdAt = ""
                guard ControlHandler.sameContent(bare, proposed) else { throw .conflict("tool spec \(proposed.toolId)@\(proposed.version) is registered with other content") }
                return ([], (existing, true))
            }
            var s = proposed
            s.createdAt = ControlClock.rfc3339(now)
            return (state.records([.toolSpec(s)], at: now), (s, false))
        }
        var out = ControlV1.ToolSpecResponse()
        out.data = stored
        out.idempotentReplay = replay
        return APIResponse(out, status: replay ? 200 : nil)
    }

    public func listSkillSpecs(_ request: ControlV1.ListSkillSpecsRequest, context: RequestContext) async throws -> APIResponse<ControlV1.SkillSpecListResponse> {
        _ = try session(context)
        var out = ControlV1.SkillSpecListResponse()
        out.data = store.read { $0.skillSpecs.values.sorted { ($0.skillId, $0.version) < ($1.skillId, $1.version) } }
        return APIResponse(out)
    }

    public func createSkillSpec(_ request: ControlV1.CreateSkillSpecRequest, context: RequestContext) async throws -> APIResponse<ControlV1.SkillSpecResponse> {
        _ = try session(context)
        var spec = request.spec ?? ControlV1.SkillSpecRecord()
        var problems: [(String, String)] = []
        if !ControlHandler.validID(spec.skillId) { problems.append(("spec.skill_id", "must be a lowercase id (a-z, 0-9, . _ -), at most 64 characters")) }
        if !ControlHandler.validVersion(spec.version) { problems.append(("spec.version", "must be a semantic version (1.2.3)")) }
        if spec.name.whitespaceTrimmed.isEmpty { problems.append(("spec.name", "is required")) }
        if let p = ControlHandler.schemaProblem(spec.inputSchema) { problems.append(("spec.input_schema", p)) }
        if let p = ControlHandler.schemaProblem(spec.outputSchema) { problems.append(("spec.output_schema", p)) }
        let known = Set(store.read { $0.toolSpecs.values.map(\.toolId) })
        for t in spec.toolIds where !known.contains(t) { problems.append(("spec.tool_ids", "names \(t), which is not a registered tool")) }
        if !problems.isEmpty { throw ControlHandler.fieldErrors(problems) }
        let now = ControlClock.now()
        spec.createdAt = ""
        let proposed = spec
        let (stored, replay) = try await store.commit { state throws(APIError) in
            if let existing = state.skillSpecs[ControlState.versionKey(proposed.skillId, proposed.version)] {
                var bare = existing
                bare.createdAt = ""
                guard ControlHandler.sameContent(bare, proposed) else { throw .conflict("skill spec \(proposed.skillId)@\(proposed.version) is registered with other content") }
                return ([], (existing, true))
            }
            var s = proposed
            s.createdAt = ControlClock.rfc3339(now)
            return (state.records([.skillSpec(s)], at: now), (s, false))
        }
        var out = ControlV1.SkillSpecResponse()
        out.data = stored
        out.idempotentReplay = replay
        return APIResponse(out, status: replay ? 200 : nil)
    }

    public func publishSkill(_ request: ControlV1.PublishSkillRequest, context: RequestContext) async throws -> APIResponse<ControlV1.SkillReleaseResponse> {
        _ = try session(context)
        let key = ControlState.versionKey(request.skillId, request.version)
        let now = ControlClock.now()
        let (release, replay) = try await store.commit { state throws(APIError) in
            if let r = state.releases[key] { return ([], (r, true)) }
            guard let spec = state.skillSpecs[key] else { throw .notFound("skill spec \(key) not found") }
            var r = ControlV1.SkillReleaseRecord()
            r.skillId = spec.skillId
            r.version = spec.version
            r.spec = spec
            r.releaseHash = CanonicalJSON.hash(spec)
            r.publishedAt = ControlClock.rfc3339(now)
            return (state.records([.skillRelease(r)], at: now), (r, false))
        }
        var out = ControlV1.SkillReleaseResponse()
        out.data = release
        out.idempotentReplay = replay
        return APIResponse(out, status: replay ? 200 : nil)
    }

    public func getSkillRelease(_ request: ControlV1.GetSkillReleaseRequest, context: RequestContext) async throws -> APIResponse<ControlV1.SkillReleaseResponse> {
        _ = try session(context)
        let key = ControlState.versionKey(request.skillId, request.version)
        guard let r = store.read({ $0.releases[key] }) else { throw APIError.notFound("release \(key) not found") }
        var out = ControlV1.SkillReleaseResponse()
        out.data = r
        return APIResponse(out)
    }
}
