import Core
import Foundation

/// Seed 001's `use_enhanced_prompts: true`: a prompt rewritten by a prompt-writer persona on the
/// default LLM provider before the job is queued. Generation does not import the assistant;
/// AtelierApp wires the secretary in as this port.
package protocol PromptEnhancer: Sendable {
    /// The richer prompt, or why the prompt was kept as it was (no provider, the LLM failed).
    func enhance(_ prompt: String, for principal: Principal?) async -> PromptEnhancement
}

package struct PromptEnhancement: Sendable, Equatable {
    package var prompt: String
    /// Said to the caller when the prompt was used as it was; nil when it was enhanced.
    package var kept: String?

    package init(prompt: String, kept: String?) {
        self.prompt = prompt
        self.kept = kept
    }
}

extension GenerationService {
    /// Each prompt enhanced when asked (one at a time: a batch of 100 is 100 LLM calls, bounded by
    /// the gateway's limits for the caller), and a note for the answer when any was kept as it
    /// was. The LLM is the operator's to spend: a caller without credentials gets the prompt as
    /// it is, and the hourly generation limit is checked before any LLM call, not only when the
    /// jobs are inserted (a refused request must not have cost a hundred completions first).
    package func enhanced(
        _ prompts: [String],
        asked: Bool?,
        principal: Principal?,
        owner: String,
        idempotencyKey: String?
    ) async throws -> (prompts: [String], note: String?) {
        guard asked == true else { return (prompts, nil) }
        // A retry of a request already queued gets its jobs back from `enqueue` as they were:
        // no LLM call for it, and no hourly check, which a replay always passes.
        if let key = Self.jobKey(idempotencyKey, index: 0, of: prompts.count), try await store.exists(owner: owner, idempotencyKey: key) {
            return (prompts, nil)
        }
        guard let principal else {
            return (prompts, "use_enhanced_prompts needs credentials (Authorization: Bearer), so the prompt was used as it is")
        }
        guard let enhancer else {
            return (prompts, "use_enhanced_prompts: no LLM provider is configured, so the prompt was used as it is")
        }
        try await hourlyRoom(owner: owner, count: prompts.count)
        var result: [String] = []
        var note: String?
        for prompt in prompts {
            let enhancement = await enhancer.enhance(prompt, for: principal)
            result.append(enhancement.prompt)
            if let kept = enhancement.kept { note = "use_enhanced_prompts: \(kept), so the prompt was used as it is" }
        }
        return (result, note)
    }

    /// Throws the hourly limit's 429 when `count` more generations would pass it now. Only a
    /// look: the insert checks again under its lock, which is what keeps bursts from overshooting.
    func hourlyRoom(owner: String, count: Int) async throws {
        guard perHour > 0 else { return }
        var limit = HourlyLimit(perHour: perHour)
        if let refusal = try await limit.admit(owner: owner, count: count, now: Timestamp.millis(Date()), in: database.sql) {
            throw refusal
        }
    }
}
