public enum ServiceInfo { public static let name = "openagents-runtime" }
