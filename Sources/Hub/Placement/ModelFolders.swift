import Core
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The folders Atelier keeps models in (the data dir's `models/` and the configured layout's
/// root). Catalog paths can point anywhere (an import takes what it is given), so deleting and
/// showing them goes through here: only files inside these folders are deleted, and users see
/// paths relative to them, never the server's absolute paths.
package struct ModelFolders: Sendable {
    /// Absolute, symlink-resolved roots.
    package let roots: [String]

    package init(roots: [String]) {
        var seen: [String] = []
        for root in roots.map(Self.resolve) where !seen.contains(root) { seen.append(root) }
        self.roots = seen
    }

    /// `path` made absolute (relative to the working directory, as an import reads `./models/x`),
    /// with `.`, `..` and every symlink resolved, also in the parts that do not exist yet.
    package static func resolve(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        // realpath(3) on the longest part that exists (it resolves `..` after each link, as the
        // kernel does); the rest cannot hold links yet, so tidying its dots is enough.
        var existing = absolute
        var rest: [String] = []
        while true {
            if let real = realpath(existing, nil) {
                defer { free(real) }
                let base = String(cString: real)
                guard !rest.isEmpty else { return base }
                return ((base as NSString).appendingPathComponent(rest.reversed().joined(separator: "/")) as NSString).standardizingPath
            }
            let parent = (existing as NSString).deletingLastPathComponent
            if parent == existing || parent.isEmpty { return (absolute as NSString).standardizingPath }
            rest.append((existing as NSString).lastPathComponent)
            existing = parent
        }
    }

    /// The root that holds `path` once resolved, and the path below it; nil when outside all.
    package func locate(_ path: String) -> (root: String, relative: String)? {
        let resolved = Self.resolve(path)
        for root in roots where resolved.hasPrefix(root == "/" ? "/" : root + "/") {
            return (root, String(resolved.dropFirst(root.count)).trimmingPrefix("/"))
        }
        return nil
    }

    /// What a user is shown for a catalog path: relative to its models folder; for another absolute
    /// path only the file name (the server's layout is nobody else's business); a hub id or a
    /// relative path as it was given.
    package func display(_ path: String) -> String {
        guard path.hasPrefix("/") else { return path }
        if let located = locate(path) { return located.relative }
        return (path as NSString).lastPathComponent
    }

    /// Deletes a model file with its metadata JSON and previews, when they are inside the models
    /// folders. Refuses the whole deletion (deleting nothing) when the model file resolves
    /// outside them; a sidecar that resolves outside (a symlink) is left alone.
    package func deleteModel(at modelPath: String) throws {
        guard locate(modelPath) != nil else {
            throw AppError(
                .forbidden,
                "the file of this entry (\(display(modelPath))) is outside the models folder, so it was not deleted and the entry was kept; remove the entry without delete_file (--delete-file) and delete the file yourself",
                code: "outside_models_folder"
            )
        }
        let base = (modelPath as NSString).deletingPathExtension
        for path in [modelPath, base + ".json", base + ".preview.png", base + ".preview.jpg", base + ".preview.webp"] {
            guard locate(path) != nil else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}

extension String {
    fileprivate func trimmingPrefix(_ prefix: String) -> String {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : self
    }
}
