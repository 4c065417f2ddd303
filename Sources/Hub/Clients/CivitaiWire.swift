import Foundation

// Civitai REST API shapes (https://github.com/civitai/civitai/wiki/REST-API-Reference), only the
// fields Atelier reads. Everything optional that Civitai omits for some models is optional here.

package struct CivitaiModelVersion: Codable, Sendable, Equatable {
    package var id: Int
    package var modelId: Int?
    package var name: String
    package var baseModel: String?
    package var trainedWords: [String]?
    package var downloadUrl: String?
    package var availability: String?
    package var model: ModelSummary?
    package var files: [File]
    package var images: [Image]?

    package struct ModelSummary: Codable, Sendable, Equatable {
        package var name: String
        package var type: String
        package var nsfw: Bool?
    }

    package struct File: Codable, Sendable, Equatable {
        package var id: Int?
        package var name: String
        package var sizeKB: Double?
        package var type: String?
        package var primary: Bool?
        package var metadata: Metadata?
        package var hashes: [String: String]?
        package var downloadUrl: String?

        package struct Metadata: Codable, Sendable, Equatable {
            package var fp: String?
            package var size: String?
            package var format: String?
        }

        package var sha256: String? { hashes?.first { $0.key.uppercased() == "SHA256" }?.value.lowercased() }
    }

    package struct Image: Codable, Sendable, Equatable {
        package var url: String
        package var width: Int?
        package var height: Int?
        package var type: String?
    }
}

package struct CivitaiModel: Codable, Sendable, Equatable {
    package var id: Int
    package var name: String
    package var type: String
    package var nsfw: Bool?
    package var modelVersions: [CivitaiModelVersion]
}
