import Billing
import Core
import Foundation
import Telegram

/// /train: 10–20 photos (an album, one by one, or a zip) become a LoRA of the person's face.
/// The files are fetched from Telegram, zipped and handed to the trainer (Replicate); the
/// training's tokens are reserved at the start and captured when the model is ready, refunded
/// when it fails. The watcher in the lease holder follows trainings to the end.
extension StudioBot {
    static let minPhotos = 10
    static let maxPhotos = 20

    func trainIntro(user: StudioUser, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        guard trainer != nil else { return try await bot.messenger.send(chat, texts.trainUnavailable).discard() }
        try await users.setPendingAction(user.user_id, "train")
        try await training.clear(user: user.user_id)
        try await bot.messenger.send(chat, texts.trainIntro)
    }

    func addTrainingFile(_ message: Message, user: StudioUser, texts: StudioTexts, _ bot: BotContext) async throws {
        let chat = message.chat.id
        let file: (id: String, unique: String, kind: String)
        if let photo = message.photo?.max(by: { $0.width * $0.height < $1.width * $1.height }) {
            file = (photo.file_id, photo.file_unique_id, "photo")
        } else if let document = message.document {
            let name = (document.file_name ?? "").lowercased()
            let mime = (document.mime_type ?? "").lowercased()
            if name.hasSuffix(".zip") || mime == "application/zip" || mime == "application/x-zip-compressed" {
                return try await addTrainingZip(document, user: user, chat: chat, texts: texts, bot)
            } else if mime.hasPrefix("image/") {
                file = (document.file_id, document.file_unique_id, "photo")
            } else {
                return try await bot.messenger.send(chat, texts.trainIntro).discard()
            }
        } else {
            return
        }
        let count = try await training.count(user: user.user_id)
        guard count < Self.maxPhotos else { return try await bot.messenger.send(chat, texts.trainTooMany).discard() }
        let now = try await training.add(user: user.user_id, fileID: file.id, uniqueID: file.unique, kind: file.kind, now: Timestamp.millis(Date()))
        // An album is ten updates at once: answer its last photo and every fifth, not each one.
        if message.media_group_id == nil || now % 5 == 0 || now >= Self.minPhotos {
            try await bot.messenger.send(chat, now >= Self.maxPhotos ? texts.trainTooMany : texts.trainCount(now))
        }
    }

    /// A zip is looked into before it is taken: a person hears at once that it is not a zip, or
    /// holds too few or too many photos, not after the tokens are reserved and Replicate refused
    /// it. An accepted zip replaces the photos sent before it.
    func addTrainingZip(_ document: Document, user: StudioUser, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        // Telegram hands bots files of up to 20 MB.
        let limit = 20 << 20
        if let size = document.file_size, size > limit { return try await bot.messenger.send(chat, texts.zipTooLarge).discard() }
        guard let path = try await bot.api.getFile(fileID: document.file_id).file_path else {
            throw BotStartError("Telegram has no path for the zip")
        }
        let photos: Int
        do {
            photos = try Self.photoCount(zip: try await bot.api.download(filePath: path, maxBytes: limit))
        } catch let error as ZipDirectory.ReadError {
            return try await bot.messenger.send(chat, texts.zipUnreadable(error)).discard()
        }
        guard (Self.minPhotos...Self.maxPhotos).contains(photos) else { return try await bot.messenger.send(chat, texts.zipCount(photos)).discard() }
        try await training.clear(user: user.user_id)
        _ = try await training.add(
            user: user.user_id,
            fileID: document.file_id,
            uniqueID: document.file_unique_id,
            kind: "zip",
            now: Timestamp.millis(Date())
        )
        try await bot.messenger.send(chat, texts.zipReceived(photos))
    }

    /// The photos a training service takes from a zip (JPEG, PNG, WebP), leaving out folders and
    /// the files macOS adds (`__MACOSX/`, `._name`, `.DS_Store`).
    static func photoCount(zip: Data) throws(ZipDirectory.ReadError) -> Int {
        let directory = try ZipDirectory(zip, maxEntries: 1_000)
        return directory.entries.filter { entry in
            let name = entry.name.lowercased()
            let base = name.split(separator: "/").last.map(String.init) ?? name
            guard !entry.isDirectory, !name.hasPrefix("__macosx/"), !base.hasPrefix(".") else { return false }
            return [".jpg", ".jpeg", ".png", ".webp"].contains { base.hasSuffix($0) }
        }.count
    }

    func trainStart(user: StudioUser, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        do {
            let model = try await startTraining(user: user, name: nil, bot)
            try await bot.messenger.send(chat, texts.trainStarted(model.name, trigger: model.trigger_word, cost: settings.trainingCost))
        } catch let error as AppError {
            switch error.status.code {
            case 402:
                try await bot.messenger.send(
                    chat,
                    texts.notEnough(cost: settings.trainingCost, left: try await ledger.balance(user.account).available)
                )
            case 409: try await bot.messenger.send(chat, texts.trainNeedMore(try await training.count(user: user.user_id)))
            default: try await bot.messenger.send(chat, texts.trainUnavailable)
            }
        }
    }

    /// Starts a training of the photos the person sent after /train (from the bot, or seed 002's
    /// `POST /api/train`). Throws 503 without a trainer, 409 with too few photos, 402 when the
    /// tokens are short.
    package func startTraining(user: StudioUser, name: String?, _ bot: BotContext) async throws -> StudioModel {
        guard let trainer else {
            throw AppError.unavailable("training is not configured: set REPLICATE_API_TOKEN and ATELIER_STUDIO_TRAINER")
        }
        let items = try await training.items(user: user.user_id)
        guard items.contains(where: { $0.kind == "zip" }) || items.count >= Self.minPhotos else {
            throw AppError.conflict(
                "at least \(Self.minPhotos) photos are needed and \(items.count) were sent: the person sends them to the bot after /train"
            )
        }
        let existing = try await models.of(user: user.user_id).count
        let title = name ?? "\(user.first_name ?? "model") \(existing + 1)"
        let trigger = "tok\(user.user_id % 100_000)x"
        let model = try await models.create(
            user: user.user_id,
            bot: bot.id,
            name: String(title.prefix(100)),
            triggerWord: trigger,
            now: Timestamp.millis(Date())
        )
        do {
            _ = try await ledger.reserve(
                user.account,
                tokens: settings.trainingCost,
                job: "studio-train-\(model.model_id)",
                reason: "training \(model.model_id)"
            )
        } catch {
            _ = try await models.finish(model.model_id, status: "error", version: nil, error: Self.reason(error), now: Timestamp.millis(Date()))
            throw error
        }
        try await users.setPendingAction(user.user_id, nil)
        do {
            let zip = try await archive(items, bot)
            let id = try await trainer.start(zip: zip, triggerWord: trigger, name: "u\(user.user_id)-m\(model.model_id)")
            try await models.started(model.model_id, training: id, now: Timestamp.millis(Date()))
            try await training.clear(user: user.user_id)
            return try await models.find(model.model_id) ?? model
        } catch {
            try await endTraining(model, ready: nil, error: Self.reason(error), bot)
            throw AppError.unavailable("the training could not start: \(Self.reason(error))")
        }
    }

    /// The person's files as one zip: a zip they sent as it is, photos fetched and stored.
    func archive(_ items: [StudioTrainingPhotos.Item], _ bot: BotContext) async throws -> Data {
        if let zip = items.first(where: { $0.kind == "zip" }) {
            guard let path = try await bot.api.getFile(fileID: zip.file_id).file_path else { throw BotStartError("Telegram has no path for the zip") }
            return try await bot.api.download(filePath: path, maxBytes: 20 << 20)
        }
        var archive = ZipArchive()
        for (index, item) in items.prefix(Self.maxPhotos).enumerated() {
            guard let path = try await bot.api.getFile(fileID: item.file_id).file_path else { continue }
            let data = try await bot.api.download(filePath: path, maxBytes: 20 << 20)
            let ext = (path as NSString).pathExtension.isEmpty ? "jpg" : (path as NSString).pathExtension.lowercased()
            archive.add(name: String(format: "photo_%02d.%@", index + 1, ext), contents: data)
        }
        return archive.finish()
    }

    func watchTrainings(_ bot: BotContext) async {
        guard let trainer else { return }
        while !Task.isCancelled {
            do {
                // Reserved, then the process stopped before Replicate took the photos: refunded.
                for model in try await models.stalled(bot: bot.id, before: Timestamp.millis(Date()) - 15 * 60_000) {
                    try await endTraining(model, ready: nil, error: "the training did not start (interrupted)", bot)
                }
                for model in try await models.training(bot: bot.id) where !Task.isCancelled {
                    guard let id = model.training_id else { continue }
                    switch try await trainer.status(training: id) {
                    case .running: continue
                    case .succeeded(let lora): try await endTraining(model, ready: lora, error: nil, bot)
                    case .failed(let reason): try await endTraining(model, ready: nil, error: reason, bot)
                    }
                }
            } catch {
                if Task.isCancelled { return }
                bot.logger.warning("studio: following trainings failed", metadata: ["error": "\(error)"])
            }
            // Trainings take minutes; a poll every two seconds costs Replicate nothing to answer.
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// Settles the training's tokens (once per training, so first), closes the row, then tells.
    func endTraining(_ model: StudioModel, ready lora: String?, error: String?, _ bot: BotContext) async throws {
        guard let user = model.user_id else { return }
        let key = "studio-train-\(model.model_id)"
        if lora != nil {
            _ = try await ledger.capture(StudioUser.account(user), job: key)
        } else {
            _ = try await ledger.refund(StudioUser.account(user), job: key)
        }
        let now = Timestamp.millis(Date())
        guard try await models.finish(model.model_id, status: lora == nil ? "error" : "ready", version: lora, error: error, now: now) else { return }
        let texts = StudioTexts(try await users.find(user)?.language ?? .en)
        if lora != nil {
            _ = try? await bot.messenger.send(user, texts.trainReady(model.name))
            await notifier.tell(bot, "🧠 Training done: \(TelegramHTML.escape(model.name)) for \(user)")
        } else {
            _ = try? await bot.messenger.send(user, texts.trainFailed(model.name, tokens: settings.trainingCost))
            await notifier.error(bot, "training \(model.model_id) for \(user) failed: \(error ?? "")")
        }
    }
}
