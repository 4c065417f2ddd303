import Generation
import Hub

/// The webhook payload of a finished generation.
struct GenerationEvent: Encodable, Sendable {
    var id: String
    var status: String
    var owner_id: String
    var images: [String]
    var image_urls: [String]
    var seed: Int64?
    var model: String?
    var backend: String?
    var error: String?
    var attempt: Int

    init(_ job: Job, imageURL: (String) -> String) {
        id = job.id
        status = job.state.rawValue
        owner_id = job.ownerID
        images = job.result?.images ?? []
        image_urls = images.map(imageURL)
        seed = job.result?.seed
        model = job.result?.model ?? job.params.model
        backend = job.result?.backend
        error = job.state == .failed ? job.error : nil
        attempt = job.attempt
    }
}

/// The webhook payload of a finished download.
struct DownloadEvent: Encodable, Sendable {
    var id: String
    var ref: String
    var status: String
    var owner_id: String
    var files: [DownloadRecord.File]
    var error: String?

    init(_ record: DownloadRecord) {
        id = record.id
        ref = record.ref
        status = record.status.rawValue
        owner_id = record.ownerID
        files = record.files
        error = record.error
    }
}
