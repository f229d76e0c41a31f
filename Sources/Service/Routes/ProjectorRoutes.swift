import Generated
import HTTPServer

/// Projector read models: checkpoints, run summaries, drift reports.
enum ProjectorRoutes {
    static func add(to r: inout Router, core: RuntimeCore, signed: SignedRoutes) {
        let projector = core.projector
        signed.getSync(&r, "/internal/v1/projectors/checkpoints/:run_id") { req, _ in
            let id = req.params["run_id"] ?? ""
            guard let c = projector.checkpoint(topic: Projector.runTopic(id)) else { throw ServiceError.notFound("no checkpoint for run \(id)") }
            var out = RuntimeV1.CheckpointResponse()
            out.checkpoint = c
            return MessageIO.respond(200, out, to: req)
        }
        signed.getSync(&r, "/internal/v1/projectors/run-summary/:run_id") { req, _ in
            let id = req.params["run_id"] ?? ""
            guard let s = projector.runSummary(id) else { throw ServiceError.notFound("no summary for run \(id)") }
            var out = RuntimeV1.RunSummaryResponse()
            out.summary = s
            return MessageIO.respond(200, out, to: req)
        }
        signed.getSync(&r, "/internal/v1/projectors/drift") { req, _ in
            let topic = (req.queryItems["topic"] ?? "").trimmingCharacters(in: .whitespaces)
            guard !topic.isEmpty else { throw ServiceError.invalidRequest("topic is required") }
            guard let d = projector.drift(topic: topic) else { throw ServiceError.notFound("no drift recorded for \(topic)") }
            var out = RuntimeV1.DriftResponse()
            out.drift = d
            return MessageIO.respond(200, out, to: req)
        }
    }
}
