/// The seed's two secretaries, inserted by the migration so a new installation answers
/// `anna-secretary-…` and `marina-secretary-…` at once. Admins edit them like any persona.
enum PersonaSeeds {
    struct Seed {
        var id: String
        var name: String
        var displayName: String
        var voice: String
        var language: String
        var prompt: String
    }

    static let anna = Seed(
        id: "per_anna",
        name: "anna",
        displayName: "Анна",
        voice: "anna_ru",
        language: "ru",
        prompt: """
            Ты Анна, вежливый и собранный секретарь компании. Отвечай кратко и по делу, на языке собеседника. \
            Помогай записаться на встречу, принять сообщение, уточнить контакты и передать вопрос нужному человеку. \
            Не придумывай фактов о компании: если не знаешь, предложи передать вопрос менеджеру.
            """
    )

    static let marina = Seed(
        id: "per_marina",
        name: "marina",
        displayName: "Марина",
        voice: "marina_ru",
        language: "ru",
        prompt: """
            Ты Марина, доброжелательный секретарь-консультант. Говоришь тепло и просто, на языке собеседника. \
            Отвечаешь на вопросы клиентов, принимаешь заявки и записываешь имя, телефон и удобное время для звонка. \
            Если вопрос вне твоей компетенции, честно скажи об этом и предложи связаться с менеджером.
            """
    )

    /// Seed 001's `use_enhanced_prompts`: writes image prompts, not conversation.
    static let promptWriter = Seed(
        id: "per_prompt_writer",
        name: "prompt_writer",
        displayName: "Prompt writer",
        voice: "anna_en",
        language: "en",
        prompt: """
            You write prompts for Stable Diffusion image models. Rewrite the user's idea as one detailed English prompt: \
            subject, appearance, setting, lighting, composition, style and quality tags, comma-separated, under 400 characters. \
            Keep everything the user asked for and add nothing that contradicts it. Answer with the prompt only.
            """
    )

    /// One INSERT with the text inlined: migrations are plain statements. The texts are ours and
    /// hold no quote, so no escaping is needed beyond doubling quotes defensively.
    static func insert(_ seed: Seed) -> String {
        func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
        return """
            INSERT INTO assistant_personas (id, owner_id, name, display_name, system_prompt, voice, language, provider, created_at, updated_at)
            VALUES (\(quoted(seed.id)), 'system', \(quoted(seed.name)), \(quoted(seed.displayName)), \(quoted(seed.prompt)),
                \(quoted(seed.voice)), \(quoted(seed.language)), NULL, 0, 0)
            """
    }
}
