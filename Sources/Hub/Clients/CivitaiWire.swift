import Foundation

// Civitai REST API shapes (https://github.com/civitai/civitai/wiki/REST-API-Reference), only the
// fields Atelier reads. Everything optional that Civitai omits for some models is optional here.

public struct CivitaiModelVersion: Codable, Sendable, Equatable {
    public var id: Int
    public var modelId: Int?
    public var name: String
    public var baseModel: String?
    public var trainedWords: [String]?
    public var downloadUrl: String?
    public var availability: String?
    public var model: ModelSummary?
    public var files: [File]
    public var images: [Image]?

    public struct ModelSummary: Codable, Sendable, Equatable {
        public var name: String
        public var type: String
        public var nsfw: Bool?
    }

    public struct File: Codable, Sendable, Equatable {
        public var id: Int?
        public var name: String
        public var sizeKB: Double?
        public var type: String?
        public var primary: Bool?
        public var metadata: Metadata?
        public var hashes: [String: String]?
        public var downloadUrl: String?

        public struct Metadata: Codable, Sendable, Equatable {
            public var fp: String?
            public var size: String?
            public var format: String?
        }

        public var sha256: String? { hashes?.first { $0.key.uppercased() == "SHA256" }?.value.lowercased() }
    }

    public struct Image: Codable, Sendable, Equatable {
        public var url: String
        public var width: Int?
        public var height: Int?
        public var type: String?
    }
}

public struct CivitaiModel: Codable, Sendable, Equatable {
    public var id: Int
    public var name: String
    public var type: String
    public var nsfw: Bool?
    public var modelVersions: [CivitaiModelVersion]
}
