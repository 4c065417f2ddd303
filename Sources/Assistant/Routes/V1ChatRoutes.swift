import Core
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/v1/models` and `/v1/chat/completions` as OpenAI's SDKs call them (Open WebUI among them).
/// Errors on `/v1` come out in OpenAI's shape (`ErrorStyle`). API keys and JWTs both work.
package enum V1ChatRoutes {
    struct Model: ResponseEncodable {
        var id: String
        var object = "model"
        var created: Int64
        var owned_by: String
    }

    struct ModelList: ResponseEncodable {
        var object = "list"
        var data: [Model]
    }

    static let tags = ["openai"]

    /// `voice` speaks each answer of a persona model (`{persona}-secretary-…`) into the speech
    /// cache: a streamed one sentence by sentence while it streams, a whole one at once (the
    /// seed's background synthesis in the persona's voice).
    package static func register(on table: RouteTable, gateway: ChatGateway, voice: AnswerVoice? = nil) {
        table.get(
            "/v1/models",
            OperationDoc(
                "Models: each persona with each provider (`{persona}-secretary-{backend}`), then the providers' own model ids",
                tags: tags,
                auth: .role(.guest),
                responses: [
                    .init(
                        200,
                        "OpenAI's model list",
                        schema: Schema.object([("object", Schema.string), ("data", Schema.array(Schema.object([("id", Schema.string)])))])
                    )
                ]
            )
        ) { _, context in
            let principal = try context.requirePrincipal()
            return ModelList(data: models(gateway.directory.snapshot, for: principal))
        }

        table.get(
            "/v1/models/{model}",
            OperationDoc(
                "One model of the list (OpenAI's `models.retrieve`)",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "OpenAI's model object", schema: Schema.object([("id", Schema.string), ("object", Schema.string)]))],
                errors: [404]
            )
        ) { _, context in
            let principal = try context.requirePrincipal()
            let id = try context.parameters.require("model")
            guard let model = models(gateway.directory.snapshot, for: principal).first(where: { $0.id == id }) else {
                throw ModelRoute.notFound(String(id.prefix(200)), why: "GET /v1/models lists the models you can use")
            }
            return model
        }

        table.post(
            "/v1/chat/completions",
            OperationDoc(
                "A chat completion as OpenAI's API takes it (stream, stream_options, tools and every other field passed through); the persona's prompt is added for persona models; providers fail over",
                tags: tags,
                auth: .writer,
                request: Schema.object(
                    [
                        ("model", Schema.string(maxLength: 256)),
                        ("messages", Schema.array(Schema.object([("role", Schema.string(maxLength: 32))]), maxItems: ChatRequest.maxMessages)),
                        ("stream", Schema.boolean),
                    ],
                    required: ["model", "messages"]
                ),
                responses: [.init(200, "OpenAI's chat.completion, or chat.completion.chunk events when streaming")],
                errors: [404, 502, 503, 504]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: context.maxUploadSize) } catch is NIOTooManyBytesError {
                throw AppError.tooLarge("the request is over \(context.maxUploadSize) bytes; send fewer or shorter messages")
            }
            let chat = try ChatRequest.parse(buffer)
            // Only a persona's answer is spoken: other models' streams pass through unread.
            let persona = voice == nil ? nil : (try? gateway.route(chat, for: principal))?.persona
            if chat.stream {
                let stream = try await gateway.stream(chat, for: principal)
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"],
                    body: .init { writer in
                        // Spoken sentence by sentence while it streams; always finished, so a
                        // client that goes away does not leave the speaker waiting.
                        let spoken = persona.flatMap { voice?.streaming($0) }
                        var answer = spoken.map { _ in StreamedAnswer() }
                        do {
                            for try await event in stream.events {
                                for sentence in answer?.add(event) ?? [] { spoken?.say(sentence) }
                                try await writer.write(event)
                            }
                            try await writer.finish(nil)
                        } catch {
                            spoken?.finish(whole: nil)
                            throw error
                        }
                        if let rest = answer?.rest { spoken?.say(rest) }
                        spoken?.finish(whole: answer?.whole)
                    }
                )
            }
            let answer = try await gateway.complete(chat, for: principal)
            if let persona, let voice {
                // `whole` cuts a long answer to what speech takes.
                let text = Secretary.content(of: answer.body)
                if !text.isEmpty { voice.whole(persona, text) }
            }
            return Response(status: .ok, headers: [.contentType: answer.contentType], body: .init(byteBuffer: answer.body))
        }
    }

    /// Persona × provider ids first (the seed's list), then the providers' own models, once each.
    static func models(_ snapshot: AssistantDirectory.Snapshot, for principal: Principal) -> [Model] {
        let providers = snapshot.providers.filter { $0.record.usable(by: principal) }
        var seen = Set<String>()
        var list: [Model] = []
        // The prompt writer (use_enhanced_prompts) is a persona for the server's own use, not a
        // chat model to offer.
        for persona in snapshot.personas where persona.name != PromptWriter.persona {
            for provider in providers where provider.record.defaultModel != nil {
                let id = "\(persona.name)-secretary-\(provider.record.name)"
                if seen.insert(id).inserted { list.append(Model(id: id, created: provider.record.createdAt / 1000, owned_by: "system")) }
            }
        }
        for provider in providers {
            for model in provider.record.models where seen.insert(model).inserted {
                list.append(Model(id: model, created: provider.record.createdAt / 1000, owned_by: provider.record.name))
            }
        }
        return list
    }
}
