import HTTPServer

/// `GET /openapi.json`: the service's generated OpenAPI 3.1 document, the
/// same bytes as the committed `Sources/Generated/OpenAPI/*.openapi.json`.
public enum OpenAPIRoute {
    public static func add(_ document: String, to router: inout Router) {
        let bytes = Array(document.utf8)
        router.getSync("/openapi.json") { _ in
            HTTPResponse(status: 200, headers: HTTPHeaders([("content-type", "application/json"), ("cache-control", "no-cache")]), body: bytes)
        }
    }
}
