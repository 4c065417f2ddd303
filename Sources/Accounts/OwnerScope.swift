import Core

/// What a caller may see of owned resources. Admins see all; everyone else sees only their own,
/// and another owner's resource answers 404 (not 403), so its existence is not revealed. Every
/// feature's store takes an `OwnerScope` for reads of owned rows.
package enum OwnerScope: Sendable, Equatable {
    case all
    case owner(String)

    package init(_ principal: Principal) {
        self = principal.isAdmin ? .all : .owner(principal.userID)
    }

    package func allows(ownerID: String) -> Bool {
        switch self {
        case .all: true
        case .owner(let id): id == ownerID
        }
    }

    /// `resource` if visible to this scope, else nil.
    package func visible<T>(_ resource: T?, owner: KeyPath<T, String>) -> T? {
        guard let resource, allows(ownerID: resource[keyPath: owner]) else { return nil }
        return resource
    }

    /// `resource` if visible, else a 404 naming what was looked for.
    package func require<T>(_ resource: T?, owner: KeyPath<T, String>, notFound: @autoclosure () -> String) throws -> T {
        guard let visible = visible(resource, owner: owner) else { throw AppError.notFound(notFound()) }
        return visible
    }
}
