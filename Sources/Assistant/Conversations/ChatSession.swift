import Core
import Foundation

/// A conversation with a persona, owned by its user. `source` says where it lives: `chat` (the
/// seed's `/chat`, one running conversation per persona), `admin` (sessions made in the admin
/// panel), `telegram:{bot}:{chat}` (the assistant bot), `widget:{id}:{visitor}`.
package struct ChatSession: Sendable, Equatable, Codable {
    package var id: String
    package var owner_id: String
    package var persona: String
    package var title: String
    package var source: String
    package var created_at: Int64
    package var updated_at: Int64

    package init(ownerID: String, persona: String, title: String, source: String, now: Int64) {
        id = ID.make("ses")
        owner_id = ownerID
        self.persona = persona
        self.title = title
        self.source = source
        created_at = now
        updated_at = now
    }
}

package struct ChatMessage: Sendable, Equatable, Codable {
    package var id: Int64
    package var session_id: String
    package var role: String
    package var content: String
    package var created_at: Int64
}
