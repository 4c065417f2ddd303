import Foundation

/// A look the studio offers: a catalog model (checkpoint or LoRA) or a person's trained LoRA.
package struct StudioStyle: Sendable, Equatable {
    /// What the bot stores and passes back (`catalog:<name>` or `own:<model_id>`).
    package var key: String
    package var title: String
    package var detail: String?

    package init(key: String, title: String, detail: String? = nil) {
        self.key = key
        self.title = title
        self.detail = detail
    }
}

/// Where a generation is.
package enum ImageProgress: Sendable, Equatable {
    case queued(position: Int?)
    case running(fraction: Double?)
    case succeeded(png: Data, url: String?)
    case failed(String)
    case cancelled
}

/// What the studio needs from the generation queue; AtelierApp wires it to Generation, so Bots
/// does not import it.
package protocol ImageGenerator: Sendable {
    /// The catalog's looks (checkpoints and LoRAs), by name.
    func styles() async throws -> [StudioStyle]
    /// Queues one image for `owner`. `model`/`lora` are catalog names (nil: the default
    /// checkpoint); `key` makes a repeated submit return the same job.
    func submit(prompt: String, model: String?, lora: String?, owner: String, key: String) async throws -> String
    func progress(job: String) async throws -> ImageProgress
    func cancel(job: String) async throws
}

/// What the studio needs for /train: a LoRA training of a person's photos (Replicate), and making
/// the result a LoRA the queue can use.
package protocol LoraTrainer: Sendable {
    /// Starts a training of the zip's photos with `triggerWord`; returns the training id.
    func start(zip: Data, triggerWord: String, name: String) async throws -> String
    func status(training: String) async throws -> TrainingStatus
}

package enum TrainingStatus: Sendable, Equatable {
    case running
    /// `weights`: the trained LoRA's download URL; registered in the catalog under `loraName`.
    case succeeded(loraName: String)
    case failed(String)
}
