import HTTPTypes
import NIOConcurrencyHelpers

/// Which methods each registered path accepts, so a request with the wrong method gets 405 with
/// an `Allow` header instead of a 404. Filled once the routes are registered.
package final class RouteIndex: Sendable {
    private let entries = NIOLockedValueBox<[(segments: [Substring], methods: Set<String>)]>([])

    package init() {}

    package func load(_ routes: [RegisteredRoute]) {
        var table: [String: Set<String>] = [:]
        for route in routes {
            table[route.path, default: []].insert(route.method.rawValue)
            // The router answers HEAD wherever it answers GET.
            if route.method == .get { table[route.path, default: []].insert("HEAD") }
        }
        entries.withLockedValue { entries in
            entries = table.map { (path, methods) in (path.split(separator: "/"), methods) }
        }
    }

    /// Methods allowed on `path`, or empty when no route has this path.
    package func allowedMethods(for path: String) -> [String] {
        let parts = path.split(separator: "/")
        let methods = entries.withLockedValue { entries in
            entries.filter { entry in
                entry.segments.count == parts.count
                    && zip(entry.segments, parts).allSatisfy { pattern, part in pattern.hasPrefix("{") || pattern == part }
            }.reduce(into: Set<String>()) { $0.formUnion($1.methods) }
        }
        return methods.sorted()
    }
}
