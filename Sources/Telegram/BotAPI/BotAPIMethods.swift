import Core
import Foundation

/// The Bot API methods the bots use, typed. Optional parameters left nil are not sent, so
/// Telegram applies its own defaults.
extension BotAPIClient {
    package func getMe() async throws -> User {
        try await call("getMe", Params())
    }

    /// Long poll: waits up to `timeout` seconds for updates after `offset` (the last handled
    /// `update_id` + 1, which also confirms everything before it to Telegram).
    package func getUpdates(offset: Int64?, limit: Int = 100, timeout: Int = 25, allowedUpdates: [String]? = nil) async throws -> [Update] {
        var params = Params()
        params["offset"] = offset.map { .integer($0) }
        params["limit"] = .int(limit)
        params["timeout"] = .int(timeout)
        params["allowed_updates"] = allowedUpdates.map { .array($0.map { .string($0) }) }
        return try await call("getUpdates", params, timeout: .seconds(Int64(timeout) + 15))
    }

    package func setWebhook(url: String, secretToken: String, allowedUpdates: [String]? = nil, dropPendingUpdates: Bool = false) async throws {
        var params = Params()
        params["url"] = .string(url)
        params["secret_token"] = .string(secretToken)
        params["allowed_updates"] = allowedUpdates.map { .array($0.map { .string($0) }) }
        params["drop_pending_updates"] = .bool(dropPendingUpdates)
        _ = try await call("setWebhook", params, as: Bool.self)
    }

    package func deleteWebhook(dropPendingUpdates: Bool = false) async throws {
        _ = try await call("deleteWebhook", ["drop_pending_updates": .bool(dropPendingUpdates)] as Params, as: Bool.self)
    }

    package func setMyCommands(_ commands: [BotCommand], languageCode: String? = nil) async throws {
        var params = Params()
        params["commands"] = try JSONValue(encoding: commands)
        params["language_code"] = languageCode.map { .string($0) }
        _ = try await call("setMyCommands", params, as: Bool.self)
    }

    /// `parseMode` is HTML by default: escape people's text with `TelegramHTML.escape`.
    package func sendMessage(
        chatID: Int64,
        text: String,
        parseMode: String? = "HTML",
        replyMarkup: InlineKeyboardMarkup? = nil,
        replyTo: Int64? = nil,
        disablePreview: Bool = true
    ) async throws -> Message {
        var params = Params()
        params["chat_id"] = .integer(chatID)
        params["text"] = .string(text)
        params["parse_mode"] = parseMode.map { .string($0) }
        params["reply_markup"] = try replyMarkup.map { try JSONValue(encoding: $0) }
        params["reply_parameters"] = replyTo.map { ["message_id": .integer($0), "allow_sending_without_reply": true] as JSONValue }
        params["link_preview_options"] = disablePreview ? ["is_disabled": true] : nil
        return try await call("sendMessage", params)
    }

    package func editMessageText(
        chatID: Int64,
        messageID: Int64,
        text: String,
        parseMode: String? = "HTML",
        replyMarkup: InlineKeyboardMarkup? = nil
    ) async throws {
        var params = Params()
        params["chat_id"] = .integer(chatID)
        params["message_id"] = .integer(messageID)
        params["text"] = .string(text)
        params["parse_mode"] = parseMode.map { .string($0) }
        params["reply_markup"] = try replyMarkup.map { try JSONValue(encoding: $0) }
        _ = try await call("editMessageText", params, as: MessageOrTrue.self)
    }

    package func editMessageReplyMarkup(chatID: Int64, messageID: Int64, replyMarkup: InlineKeyboardMarkup?) async throws {
        var params = Params()
        params["chat_id"] = .integer(chatID)
        params["message_id"] = .integer(messageID)
        params["reply_markup"] = try replyMarkup.map { try JSONValue(encoding: $0) }
        _ = try await call("editMessageReplyMarkup", params, as: MessageOrTrue.self)
    }

    package func deleteMessage(chatID: Int64, messageID: Int64) async throws {
        _ = try await call("deleteMessage", ["chat_id": .integer(chatID), "message_id": .integer(messageID)] as Params, as: Bool.self)
    }

    /// `typing`, `upload_photo`, `upload_document`: shown for 5 s or until a message is sent.
    package func sendChatAction(chatID: Int64, action: String) async throws {
        _ = try await call("sendChatAction", ["chat_id": .integer(chatID), "action": .string(action)] as Params, as: Bool.self)
    }

    package func sendPhoto(
        chatID: Int64,
        photo: InputFile,
        caption: String? = nil,
        parseMode: String? = "HTML",
        replyMarkup: InlineKeyboardMarkup? = nil
    ) async throws -> Message {
        var params = Params()
        params["chat_id"] = .integer(chatID)
        params["caption"] = caption.map { .string($0) }
        params["parse_mode"] = caption == nil ? nil : parseMode.map { .string($0) }
        params["reply_markup"] = try replyMarkup.map { try JSONValue(encoding: $0) }
        return try await sendFile("sendPhoto", field: "photo", photo, params: params)
    }

    package func sendDocument(chatID: Int64, document: InputFile, caption: String? = nil, parseMode: String? = "HTML") async throws -> Message {
        var params = Params()
        params["chat_id"] = .integer(chatID)
        params["caption"] = caption.map { .string($0) }
        params["parse_mode"] = caption == nil ? nil : parseMode.map { .string($0) }
        return try await sendFile("sendDocument", field: "document", document, params: params)
    }

    /// A voice message: OGG/Opus (Telegram shows others as files).
    package func sendVoice(chatID: Int64, voice: InputFile, caption: String? = nil, parseMode: String? = "HTML") async throws -> Message {
        var params = Params()
        params["chat_id"] = .integer(chatID)
        params["caption"] = caption.map { .string($0) }
        params["parse_mode"] = caption == nil ? nil : parseMode.map { .string($0) }
        return try await sendFile("sendVoice", field: "voice", voice, params: params)
    }

    /// An album of 2–10 photos; uploads are attached as `attach://photoN`.
    package func sendMediaGroup(chatID: Int64, photos: [InputMediaPhoto]) async throws -> [Message] {
        var media: [JSONValue] = []
        var files: [MultipartForm.File] = []
        for (index, photo) in photos.enumerated() {
            var item: [(String, JSONValue)] = [("type", "photo")]
            switch photo.media {
            case .fileID(let id): item.append(("media", .string(id)))
            case .url(let url): item.append(("media", .string(url)))
            case .upload(let filename, let contentType, let data):
                item.append(("media", .string("attach://photo\(index)")))
                files.append(.init(field: "photo\(index)", filename: filename, contentType: contentType, data: data))
            }
            if let caption = photo.caption {
                item.append(("caption", .string(caption)))
                item.append(("parse_mode", .string("HTML")))
            }
            media.append(.object(item))
        }
        let params: Params = ["chat_id": .integer(chatID), "media": .array(media)]
        return files.isEmpty ? try await call("sendMediaGroup", params) : try await callMultipart("sendMediaGroup", params, files: files)
    }

    package func getFile(fileID: String) async throws -> TelegramFile {
        try await call("getFile", ["file_id": .string(fileID)] as Params)
    }

    package func answerCallbackQuery(id: String, text: String? = nil, showAlert: Bool = false) async throws {
        var params: Params = ["callback_query_id": .string(id), "show_alert": .bool(showAlert)]
        params["text"] = text.map { .string($0) }
        _ = try await call("answerCallbackQuery", params, as: Bool.self)
    }

    /// An invoice message. For Telegram Stars `currency` is `XTR`, `providerToken` empty and there
    /// is one price.
    package func sendInvoice(
        chatID: Int64,
        title: String,
        description: String,
        payload: String,
        currency: String = "XTR",
        prices: [LabeledPrice],
        providerToken: String = ""
    ) async throws -> Message {
        var params = try invoiceParams(title: title, description: description, payload: payload, currency: currency, prices: prices)
        params["chat_id"] = .integer(chatID)
        params["provider_token"] = .string(providerToken)
        return try await call("sendInvoice", params)
    }

    package func createInvoiceLink(
        title: String,
        description: String,
        payload: String,
        currency: String = "XTR",
        prices: [LabeledPrice]
    ) async throws -> String {
        let params = try invoiceParams(title: title, description: description, payload: payload, currency: currency, prices: prices)
        return try await call("createInvoiceLink", params)
    }

    /// Must be answered within 10 s of the query, or the payment fails on the person's side.
    package func answerPreCheckoutQuery(id: String, ok: Bool, errorMessage: String? = nil) async throws {
        var params: Params = ["pre_checkout_query_id": .string(id), "ok": .bool(ok)]
        params["error_message"] = errorMessage.map { .string($0) }
        _ = try await call("answerPreCheckoutQuery", params, as: Bool.self)
    }

    package func refundStarPayment(userID: Int64, telegramPaymentChargeID: String) async throws {
        let params: Params = ["user_id": .integer(userID), "telegram_payment_charge_id": .string(telegramPaymentChargeID)]
        _ = try await call("refundStarPayment", params, as: Bool.self)
    }

    func invoiceParams(title: String, description: String, payload: String, currency: String, prices: [LabeledPrice]) throws -> Params {
        [
            "title": .string(title), "description": .string(description), "payload": .string(payload), "currency": .string(currency),
            "prices": try JSONValue(encoding: prices),
        ]
    }

    /// A method that takes one file: by id or URL as JSON, an upload as multipart.
    func sendFile(_ method: String, field: String, _ file: InputFile, params: Params) async throws -> Message {
        var params = params
        switch file {
        case .fileID(let value), .url(let value):
            params[field] = .string(value)
            return try await call(method, params)
        case .upload(let filename, let contentType, let data):
            return try await callMultipart(method, params, files: [.init(field: field, filename: filename, contentType: contentType, data: data)])
        }
    }
}

/// Method parameters: a JSON object; setting a field to nil leaves it out.
struct Params: Encodable, ExpressibleByDictionaryLiteral {
    private var fields: [String: JSONValue] = [:]

    init() {}

    init(dictionaryLiteral elements: (String, JSONValue)...) {
        for (key, value) in elements { fields[key] = value }
    }

    subscript(key: String) -> JSONValue? {
        get { fields[key] }
        set { fields[key] = newValue }
    }

    func encode(to encoder: any Encoder) throws { try fields.encode(to: encoder) }
}

extension JSONValue {
    /// Telegram's ids are 64-bit (Int is 64-bit on every platform Atelier builds for).
    static func integer(_ value: Int64) -> JSONValue { .int(Int(value)) }

    /// Any `Encodable` as it would be sent (for markup, prices, commands).
    init(encoding value: some Encodable) throws {
        self = try BotAPIClient.decoder.decode(JSONValue.self, from: try BotAPIClient.encoder.encode(value))
    }
}

/// `editMessage*` answers the edited message, or `true` for a message sent by inline mode.
struct MessageOrTrue: Decodable {
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if (try? container.decode(Bool.self)) == true { return }
        _ = try container.decode(Message.self)
    }
}
