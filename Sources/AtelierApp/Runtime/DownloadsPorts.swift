import Bots
import Core
import Foundation
import Hub

/// The downloads bot's view of the hub (Bots does not import Hub): references described by the
/// hub's own planner, downloads started through the fleet API on GPU machines, or on this server
/// through its download queue when it is one of the targets.
struct HubModelFleet: ModelFleet {
    static let local = FleetTarget(id: "local", name: "this server")

    let hub: HubService
    let fleet: FleetService
    let downloads: DownloadManager
    /// Whether this server keeps models itself (it always can; listed after the nodes).
    var includeLocal = true

    func targets() async throws -> [FleetTarget] {
        let nodes = try await fleet.store.all().map { FleetTarget(id: $0.id, name: $0.name) }
        return nodes + (includeLocal ? [Self.local] : [])
    }

    func describe(_ reference: String) async throws -> ModelSummary {
        let parsed = try HubReference.parse(reference)
        let files = try await hub.plan(parsed)
        guard let first = files.first else { throw AppError.notFound("\(reference) names no file to download") }
        let sizes = files.compactMap(\.request.expectedSize)
        return ModelSummary(
            reference: parsed.description,
            model: first.info.name,
            version: first.info.versionName,
            kind: first.info.kind.rawValue,
            files: files.map(\.request.filename),
            bytes: sizes.count == files.count ? sizes.reduce(0, +) : nil
        )
    }

    func start(_ reference: String, on targets: [FleetTarget], key: String) async throws -> [FleetTicket] {
        let parsed = try HubReference.parse(reference)
        var tickets: [FleetTicket] = []
        let all = try await fleet.store.all()
        let nodes = all.filter { node in targets.contains { $0.id == node.id } }
        if !nodes.isEmpty {
            for result in await fleet.download(ref: parsed.description, layout: nil, kind: nil, nodes: nodes, idempotencyKey: key) {
                tickets.append(
                    FleetTicket(target: FleetTarget(id: result.node_id, name: result.node), download: result.download?.id, error: result.error)
                )
            }
        }
        if targets.contains(Self.local) {
            do {
                let record = try await downloads.enqueue(reference: parsed, layout: nil, kind: nil, owner: "telegram", idempotencyKey: key)
                tickets.append(FleetTicket(target: Self.local, download: record.id, error: nil))
            } catch let error as AppError {
                tickets.append(FleetTicket(target: Self.local, download: nil, error: error.detail))
            }
        }
        return tickets
    }

    func progress(_ ticket: FleetTicket) async throws -> FleetProgress {
        guard let id = ticket.download else { return FleetProgress(status: "failed", error: ticket.error) }
        if ticket.target == Self.local {
            guard let record = try await downloads.store.find(id: id) else { return FleetProgress(status: "failed", error: "the download is gone") }
            let live = downloads.board.snapshot(id)
            return FleetProgress(
                status: record.status.rawValue,
                receivedBytes: max(live?.receivedBytes ?? 0, record.receivedBytes),
                totalBytes: live?.totalBytes ?? record.totalBytes,
                bytesPerSecond: live?.bytesPerSecond,
                paths: record.files.map(\.path),
                error: record.error
            )
        }
        guard let node = try await fleet.store.find(ticket.target.id) else {
            return FleetProgress(status: "failed", error: "node \(ticket.target.name) was removed")
        }
        let state = try await fleet.downloadState(id, on: node)
        return FleetProgress(
            status: state.status,
            receivedBytes: state.receivedBytes,
            totalBytes: state.totalBytes,
            bytesPerSecond: state.bytesPerSecond,
            paths: state.paths,
            error: state.error
        )
    }
}
