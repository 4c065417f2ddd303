import Foundation
import Hummingbird

/// `?limit=&cursor=` for every list. The cursor is opaque to clients: base64url of the last row's
/// sort key. Lists are ordered by id (ids sort by creation time), so "after this id" is stable.
package struct PageRequest: Sendable, Equatable {
    package static let defaultLimit = 50
    package static let maxLimit = 200

    package var limit: Int
    /// The id after which to continue, decoded from the cursor.
    package var after: String?

    package init(limit: Int = PageRequest.defaultLimit, after: String? = nil) {
        self.limit = limit
        self.after = after
    }

    package init(query: [String: String]) throws {
        var limit = PageRequest.defaultLimit
        if let text = query["limit"] {
            guard let value = Int(text), (1...PageRequest.maxLimit).contains(value) else {
                throw AppError.validation(field: "limit", "must be a whole number from 1 to \(PageRequest.maxLimit)")
            }
            limit = value
        }
        var after: String?
        if let cursor = query["cursor"], !cursor.isEmpty {
            guard let decoded = Self.decodeCursor(cursor) else {
                throw AppError.validation(field: "cursor", "is not a cursor this server issued; start again without it")
            }
            after = decoded
        }
        self.init(limit: limit, after: after)
    }

    package init(request: Request) throws {
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        try self.init(query: query)
    }

    package static func encodeCursor(_ id: String) -> String {
        Data(id.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A cursor this server issues encodes an id of at most 200 characters: 400 leaves room.
    package static let maxCursorLength = 400

    static func decodeCursor(_ cursor: String) -> String? {
        guard cursor.utf8.count <= maxCursorLength else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
            // A cursor this server issued holds an id, never a control character.
            !text.isEmpty, text.count <= 200, !text.containsControlCharacters
        else { return nil }
        return text
    }
}

/// One page of a list: `{"items": [...], "next_cursor": "..."|null}`.
package struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
    package var items: [Item]
    package var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    /// Builds a page from `limit + 1` fetched rows: the extra row only tells that more exist.
    package init(fetched: [Item], request: PageRequest, id: (Item) -> String) {
        if fetched.count > request.limit {
            let items = Array(fetched.prefix(request.limit))
            self.items = items
            self.nextCursor = items.last.map { PageRequest.encodeCursor(id($0)) }
        } else {
            self.items = fetched
            self.nextCursor = nil
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

extension Page: ResponseEncodable {}

extension PageRequest {
    /// The `limit` and `cursor` query parameters, for route docs.
    package static let parameters: [OperationDoc.Parameter] = [
        .query("limit", Schema.integer(minimum: 1, maximum: PageRequest.maxLimit), "Items per page (default 50)"),
        .query("cursor", Schema.string(maxLength: PageRequest.maxCursorLength), "The next_cursor of the previous page"),
    ]
}
