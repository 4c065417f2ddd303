import Core
import Foundation

/// Which providers serve a requested model id, in the order to try them.
///
/// - `{persona}-secretary-{backend}` (the seed's form): that persona's prompt, the named provider
///   first (its first model), the others after it as failover.
/// - `{persona}-secretary` or `{persona}`: the persona's own provider first, then by priority.
/// - any other id: the providers that list it in `models`, by priority.
package struct ModelRoute: Sendable {
    package struct Candidate: Sendable {
        package var provider: AssistantDirectory.Provider
        /// The model id sent upstream.
        package var model: String
    }

    package var persona: Persona?
    package var candidates: [Candidate]

    static let secretary = "-secretary"

    package static func resolve(_ model: String, in snapshot: AssistantDirectory.Snapshot, for principal: Principal) throws -> ModelRoute {
        let usable = snapshot.providers.filter { $0.record.usable(by: principal) }
        var personaName = model
        var backend: String?
        if let range = model.range(of: secretary + "-") {
            personaName = String(model[..<range.lowerBound])
            backend = String(model[range.upperBound...])
        } else if model.hasSuffix(secretary) {
            personaName = String(model.dropLast(secretary.count))
        }
        if let persona = snapshot.persona(personaName) {
            let preferred = backend ?? persona.provider
            if let backend, !usable.contains(where: { $0.record.name == backend }) {
                throw notFound(model, why: "no provider named '\(backend)' is available to you")
            }
            let ordered = usable.filter { $0.record.name == preferred } + usable.filter { $0.record.name != preferred }
            let candidates = ordered.compactMap { provider in
                provider.record.defaultModel.map { Candidate(provider: provider, model: $0) }
            }
            guard !candidates.isEmpty else {
                throw AppError(
                    .serviceUnavailable,
                    "no LLM provider is configured for persona '\(persona.name)'; an admin adds one at POST /admin/llm/providers",
                    code: "no_provider"
                )
            }
            return ModelRoute(persona: persona, candidates: candidates)
        }
        let serving = usable.filter { $0.record.models.contains(model) }.map { Candidate(provider: $0, model: model) }
        guard !serving.isEmpty else { throw notFound(model, why: "GET /v1/models lists the models you can use") }
        return ModelRoute(persona: nil, candidates: serving)
    }

    static func notFound(_ model: String, why: String) -> AppError {
        AppError(.notFound, "The model `\(model)` does not exist or you do not have access to it; \(why)", code: "model_not_found", field: "model")
    }
}
