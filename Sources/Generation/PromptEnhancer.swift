import Core

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
    /// the providers' own limits), and a note for the answer when any was kept as it was.
    package func enhanced(_ prompts: [String], asked: Bool?, principal: Principal?) async -> (prompts: [String], note: String?) {
        guard asked == true else { return (prompts, nil) }
        guard let enhancer else {
            return (prompts, "use_enhanced_prompts: no LLM provider is configured, so the prompt was used as it is")
        }
        var result: [String] = []
        var note: String?
        for prompt in prompts {
            let enhancement = await enhancer.enhance(prompt, for: principal)
            result.append(enhancement.prompt)
            if let kept = enhancement.kept { note = "use_enhanced_prompts: \(kept), so the prompt was used as it is" }
        }
        return (result, note)
    }
}
