import Foundation

/// Where a downloads bot can put a model: a GPU machine of the fleet, or this server.
package struct FleetTarget: Sendable, Equatable, Codable {
    package var id: String
    package var name: String

    package init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

/// What a reference names, before anything is downloaded.
package struct ModelSummary: Sendable, Equatable, Codable {
    package var reference: String
    package var model: String
    package var version: String?
    package var kind: String
    package var files: [String]
    package var bytes: Int64?

    package init(reference: String, model: String, version: String?, kind: String, files: [String], bytes: Int64?) {
        self.reference = reference
        self.model = model
        self.version = version
        self.kind = kind
        self.files = files
        self.bytes = bytes
    }
}

/// One started download on one target.
package struct FleetTicket: Sendable, Equatable, Codable {
    package var target: FleetTarget
    /// The target's download id; nil when it refused (see `error`).
    package var download: String?
    package var error: String?

    package init(target: FleetTarget, download: String?, error: String?) {
        self.target = target
        self.download = download
        self.error = error
    }
}

/// A download's state on its target.
package struct FleetProgress: Sendable, Equatable {
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`.
    package var status: String
    package var receivedBytes: Int64?
    package var totalBytes: Int64?
    package var bytesPerSecond: Double?
    package var paths: [String]
    package var error: String?

    package init(
        status: String,
        receivedBytes: Int64? = nil,
        totalBytes: Int64? = nil,
        bytesPerSecond: Double? = nil,
        paths: [String] = [],
        error: String? = nil
    ) {
        self.status = status
        self.receivedBytes = receivedBytes
        self.totalBytes = totalBytes
        self.bytesPerSecond = bytesPerSecond
        self.paths = paths
        self.error = error
    }

    package var isFinal: Bool { ["succeeded", "failed", "cancelled"].contains(status) }
}

/// Seed 000's fan-out as the downloads bot needs it; AtelierApp wires it to the hub and its fleet
/// API, so Bots does not import Hub.
package protocol ModelFleet: Sendable {
    func targets() async throws -> [FleetTarget]
    /// Checks the reference and says what it names; throws a clear error for one that is not a
    /// Civitai or Hugging Face model.
    func describe(_ reference: String) async throws -> ModelSummary
    /// Starts the download on each target with one key (a repeated start starts nothing twice).
    func start(_ reference: String, on targets: [FleetTarget], key: String) async throws -> [FleetTicket]
    func progress(_ ticket: FleetTicket) async throws -> FleetProgress
}
