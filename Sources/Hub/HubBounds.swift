import Core

/// Every bound on what the hub routes take (downloads, seed 000's Civitai download, the fleet,
/// catalog edits and imports), in one place: the checks and the OpenAPI document read these.
/// Lengths are Unicode code points (JSON Schema's `maxLength`).
package enum HubBounds {
    /// A model reference: a link, an AIR, `hf:owner/repo/file@rev`, a URL.
    package static let ref = 2048
    package static let url = 2048
    /// `atelier`, `a1111`, `comfyui` or an install folder.
    package static let layout = 1024
    package static let kind = 32
    package static let apiKey = 512
    package static let nodeName = 64
    package static let nodeToken = 1024
    package static let fanOutNodes = 100
    /// Catalog entries.
    package static let entryKey = 200
    package static let entryName = 200
    package static let path = 1024
    /// The same as a generation's negative prompt, which it becomes.
    package static let defaultNegative = 4000
    package static let description = 4000
    package static let baseModel = 100
    package static let triggerWords = 50
    package static let triggerWord = 200
    /// Entries per map of a seed-003 import (`AVAILABLE_MODELS`, `AVAILABLE_LORAS`).
    package static let importEntries = 10_000
}

extension DownloadRoutes.CreateRequest: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(ref, field: "ref", max: HubBounds.ref)
        try Bounded.text(layout, field: "layout", max: HubBounds.layout)
        try Bounded.text(kind, field: "kind", max: HubBounds.kind)
    }
}

extension CivitaiCompatRoutes.DownloadRequest: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(url, field: "url", max: HubBounds.url)
        try Bounded.text(api_key, field: "api_key", max: HubBounds.apiKey)
    }
}

extension FleetRoutes.NodeRequest: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(name, field: "name", max: HubBounds.nodeName)
        try Bounded.text(url, field: "url", max: HubBounds.url)
        try Bounded.text(token, field: "token", max: HubBounds.nodeToken)
    }
}

extension FleetRoutes.FanOutRequest: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(ref, field: "ref", max: HubBounds.ref)
        try Bounded.text(layout, field: "layout", max: HubBounds.layout)
        try Bounded.text(kind, field: "kind", max: HubBounds.kind)
        // A node is named by its id or its name.
        try Bounded.texts(nodes, field: "nodes", maxItems: HubBounds.fanOutNodes, maxLength: HubBounds.nodeName)
    }
}

extension ModelRoutes.Update: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(name, field: "name", max: HubBounds.entryName)
        try Bounded.text(vae_path, field: "vae_path", max: HubBounds.path)
        try Bounded.text(default_negative, field: "default_negative", max: HubBounds.defaultNegative)
        try Bounded.texts(trigger_words, field: "trigger_words", maxItems: HubBounds.triggerWords, maxLength: HubBounds.triggerWord)
        try Bounded.text(description, field: "description", max: HubBounds.description)
        try Bounded.text(base_model, field: "base_model", max: HubBounds.baseModel)
    }
}

extension CatalogImport: BoundedInput {
    /// Fields are named by the map and the entry's key: `AVAILABLE_LORAS.detail.trigger_words[2]`.
    package func checkBounds() throws {
        for (map, items) in [("AVAILABLE_MODELS", models), ("AVAILABLE_LORAS", loras)] {
            try Bounded.items(items, field: map, max: HubBounds.importEntries)
            for (key, item) in items {
                guard key.utf8.count <= HubBounds.entryKey || key.unicodeScalars.count <= HubBounds.entryKey else {
                    throw AppError.validation(field: map, "keys must be at most \(HubBounds.entryKey) characters")
                }
                let field = "\(map).\(key)"
                try Bounded.text(item.name, field: "\(field).name", max: HubBounds.entryName)
                try Bounded.text(item.path, field: "\(field).path", max: HubBounds.path)
                try Bounded.text(item.vae_path, field: "\(field).vae_path", max: HubBounds.path)
                try Bounded.text(item.default_negative, field: "\(field).default_negative", max: HubBounds.defaultNegative)
                try Bounded.texts(
                    item.trigger_words,
                    field: "\(field).trigger_words",
                    maxItems: HubBounds.triggerWords,
                    maxLength: HubBounds.triggerWord
                )
                try Bounded.text(item.description, field: "\(field).description", max: HubBounds.description)
                try Bounded.text(item.base_model, field: "\(field).base_model", max: HubBounds.baseModel)
            }
        }
    }
}
