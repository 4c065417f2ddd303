import Core
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Providers (with their keys opened) and personas, kept in memory: a chat completion reads them
/// on every request and must not pay for a database read or a decryption. Reloaded at once after
/// a change through this process's admin API, and every two seconds when another process on the
/// same database changed something (a cheap `COUNT`/`MAX(updated_at)` tells).
package final class AssistantDirectory: Service, Sendable {
    package struct Provider: Sendable {
        package var record: ProviderRecord
        package var key: Secret?
    }

    package struct Snapshot: Sendable {
        package var providers: [Provider] = []
        package var personas: [Persona] = []
        var version = ""

        package func persona(_ name: String) -> Persona? { personas.first { $0.name == name } }
        package func provider(named name: String) -> Provider? { providers.first { $0.record.name == name } }
    }

    let providers: ProviderStore
    let personas: PersonaStore
    let box: SecretBox
    let logger: Logger
    let current = Mutex(Snapshot())
    /// Reloads in the order they started: the periodic check and a route's reload after a change
    /// can overlap, and the one that started first (reading the rows before the change) must not
    /// replace the newer snapshot when it finishes last.
    let reloads = Mutex((started: 0, applied: 0))

    package init(providers: ProviderStore, personas: PersonaStore, box: SecretBox, logger: Logger) {
        self.providers = providers
        self.personas = personas
        self.box = box
        self.logger = logger
    }

    package var snapshot: Snapshot { current.withLock { $0 } }

    /// Reads everything again (after a change here, and at start).
    package func reload() async throws {
        let ticket = reloads.withLock { state in
            state.started += 1
            return state.started
        }
        let version = try await providers.version() + "/" + personas.version()
        let rows = try await providers.all()
        let opened = rows.map { record in
            // A key sealed under another secret (a restored backup) is treated as absent: the
            // upstream's 401 then says so, instead of the whole gateway failing.
            Provider(record: record, key: record.sealedKey.flatMap { try? box.open($0) })
        }
        let snapshot = Snapshot(providers: opened, personas: try await personas.all(), version: version)
        reloads.withLock { state in
            guard ticket > state.applied else { return }
            state.applied = ticket
            current.withLock { $0 = snapshot }
        }
    }

    package func run() async throws {
        try? await reload()
        // Stops at once on shutdown: services after it in the group wait for it to return.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(2))
                do {
                    let version = try await self.providers.version() + "/" + self.personas.version()
                    if version != self.snapshot.version { try await self.reload() }
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.debug("assistant: reloading providers failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    package func seal(_ key: String) throws -> String { try box.seal(Secret(key)) }
}
