import Accounts
import Core
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// `/admin/widgets` (seed 004's WidgetInstance, owned like every resource) and the public side:
/// `GET /widget.js` and `POST /widget/chat`, which answers only a right widget key from one of
/// the widget's allowed origins, at most `perMinute` messages a minute per visitor address.
package enum WidgetRoutes {
    struct Input: Decodable, BoundedInput {
        var name: String?
        var persona: String?
        var allowed_origins: [String]?
        var enabled: Bool?

        func checkBounds() throws {
            try Bounded.text(name, field: "name", max: 64)
            try Bounded.text(persona, field: "persona", max: 64)
            try Bounded.texts(allowed_origins, field: "allowed_origins", maxItems: 20, maxLength: 300)
        }
    }

    struct WidgetResponse: ResponseEncodable {
        var id: String
        var owner_id: String
        var name: String
        var persona: String
        var allowed_origins: [String]
        var enabled: Bool
        /// Only when created or rotated: the key is not kept.
        var widget_key: String?
        /// The tag to paste into a page (with the key only when it is shown).
        var embed: String?
        var created_at: Date
        var updated_at: Date

        init(_ widget: ChatWidget, key: String? = nil, base: String? = nil) {
            id = widget.id
            owner_id = widget.owner_id
            name = widget.name
            persona = widget.persona
            allowed_origins = widget.allowed_origins
            enabled = widget.enabled
            widget_key = key
            if let key {
                // The name is the owner's text, pasted into someone's page: escaped for an attribute.
                let title = HTMLEscape.escape(widget.name, apostrophe: true)
                embed = #"<script src="\#(base ?? "")/widget.js" data-widget-key="\#(key)" data-title="\#(title)" async></script>"#
            }
            created_at = Timestamp.date(widget.created_at)
            updated_at = Timestamp.date(widget.updated_at)
        }
    }

    struct WidgetList: ResponseEncodable {
        var items: [WidgetResponse]
    }

    struct ChatInput: Decodable, BoundedInput {
        var message: String
        var visitor_id: String?
        func checkBounds() throws {
            try Bounded.text(message, field: "message", max: 4000)
            try Bounded.text(visitor_id, field: "visitor_id", max: 64)
        }
    }

    struct ChatAnswer: ResponseEncodable {
        var response: String
    }

    static let keyHeader = HTTPField.Name("X-Widget-Key")!
    static let perMinute = 20

    static let schema = Schema.object(
        [
            ("id", Schema.string), ("owner_id", Schema.string), ("name", Schema.string), ("persona", Schema.string),
            ("allowed_origins", Schema.array(Schema.string)), ("enabled", Schema.boolean), ("widget_key", Schema.nullable(Schema.string)),
            ("embed", Schema.nullable(Schema.string)), ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
        ],
        required: ["id", "name", "persona", "allowed_origins", "enabled"]
    )

    package static func register(on table: RouteTable, store: ChatWidgetStore, secretary: Secretary, users: UserStore) {
        registerAdmin(on: table, store: store, secretary: secretary)
        registerPublic(on: table, store: store, secretary: secretary, users: users)
    }

    static func registerAdmin(on table: RouteTable, store: ChatWidgetStore, secretary: Secretary) {
        let tags = ["widgets"]
        table.schema("ChatWidget", schema)
        let ref = Schema.ref("ChatWidget")
        let input = Schema.object([
            ("name", Schema.string(minLength: 1, maxLength: 64)), ("persona", Schema.string(maxLength: 64)),
            ("allowed_origins", Schema.array(Schema.string(maxLength: 300), maxItems: 20)), ("enabled", Schema.boolean),
        ])

        table.get(
            "/admin/widgets",
            OperationDoc(
                "Chat widgets (yours; an admin sees all)",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Widgets", schema: Schema.object([("items", Schema.array(ref))]))]
            )
        ) { _, context in
            let principal = try context.require(.guest)
            return WidgetList(items: try await store.list(scope: OwnerScope(principal)).map { WidgetResponse($0) })
        }

        table.post(
            "/admin/widgets",
            OperationDoc(
                "Add a widget: `name`, `persona`, `allowed_origins` (https://shop.example); the answer has the key and the script tag, once",
                tags: tags,
                auth: .writer,
                request: input,
                responses: [.init(201, "Added, with widget_key and embed", schema: ref)]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let body = try await request.decodeJSON(Input.self, context: context)
            guard let name = body.name?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty else {
                throw AppError.validation(field: "name", "field required")
            }
            let key = ChatWidget.makeKey()
            let now = Timestamp.millis(Date())
            let widget = ChatWidget(
                id: ID.make("wgt"),
                owner_id: principal.userID,
                name: name,
                persona: try secretary.persona(body.persona).name,
                allowed_origins: try origins(body.allowed_origins ?? []),
                key_prefix: key.prefix,
                key_hash: key.hash,
                enabled: body.enabled ?? true,
                created_at: now,
                updated_at: now
            )
            try await store.save(widget, isNew: true)
            return JSONResponse(
                .created,
                WidgetResponse(widget, key: key.plaintext, base: context.baseURL),
                headers: [.location: context.absolute("/admin/widgets/\(widget.id)")]
            )
        }

        table.get(
            "/admin/widgets/{id}",
            OperationDoc("One widget (without its key)", tags: tags, auth: .role(.guest), responses: [.init(200, "Widget", schema: ref)])
        ) { _, context in
            WidgetResponse(try await find(store, context, write: false))
        }

        let change = OperationDoc("Change a widget", tags: tags, auth: .writer, request: input, responses: [.init(200, "Changed", schema: ref)])
        let update: @Sendable (Request, AppRequestContext) async throws -> WidgetResponse = { request, context in
            var widget = try await find(store, context, write: true)
            let body = try await request.decodeJSON(Input.self, context: context)
            if let name = body.name?.trimmingCharacters(in: .whitespacesAndNewlines) {
                guard !name.isEmpty else { throw AppError.validation(field: "name", "must not be empty") }
                widget.name = name
            }
            if let persona = body.persona { widget.persona = try secretary.persona(persona).name }
            if let list = body.allowed_origins { widget.allowed_origins = try origins(list) }
            if let enabled = body.enabled { widget.enabled = enabled }
            widget.updated_at = Timestamp.millis(Date())
            try await store.save(widget, isNew: false)
            return WidgetResponse(widget)
        }
        table.put("/admin/widgets/{id}", change, handler: update)
        table.add(.patch, "/admin/widgets/{id}", change, handler: update)

        table.delete(
            "/admin/widgets/{id}",
            OperationDoc("Remove a widget", tags: tags, auth: .writer, responses: [.init(204, "Removed")])
        ) { _, context in
            let widget = try await find(store, context, write: true)
            try await store.delete(id: widget.id)
            return Response(status: .noContent)
        }

        table.post(
            "/admin/widgets/{id}/rotate-key",
            OperationDoc(
                "A new key (the old one stops working at once); the answer has it and the script tag, once",
                tags: tags,
                auth: .writer,
                responses: [.init(200, "Rotated", schema: ref)]
            )
        ) { _, context in
            var widget = try await find(store, context, write: true)
            let key = ChatWidget.makeKey()
            widget.key_prefix = key.prefix
            widget.key_hash = key.hash
            widget.updated_at = Timestamp.millis(Date())
            try await store.save(widget, isNew: false)
            return WidgetResponse(widget, key: key.plaintext, base: context.baseURL)
        }
    }

    static func origins(_ list: [String]) throws -> [String] {
        var result: [String] = []
        for (index, origin) in list.enumerated() {
            guard let normalized = ChatWidget.normalizedOrigin(origin) else {
                throw AppError.validation(field: "allowed_origins[\(index)]", "must be an origin like https://shop.example (no path)")
            }
            if !result.contains(normalized) { result.append(normalized) }
        }
        return result
    }

    static func find(_ store: ChatWidgetStore, _ context: AppRequestContext, write: Bool) async throws -> ChatWidget {
        let principal = write ? try context.requireWriter() : try context.require(.guest)
        let id = try context.parameters.require("id")
        return try OwnerScope(principal).require(try await store.find(id: id), owner: \.owner_id, notFound: "widget \(id) not found")
    }
}
