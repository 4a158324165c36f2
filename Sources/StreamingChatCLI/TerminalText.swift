import ArgumentParser
import Foundation

/// Text from other members made safe to print on a terminal: a message or a name is data, and
/// must never move the cursor, change colours or send a query to the terminal (escape
/// injection). Every C0 control, DEL and C1 control (U+0080–U+009F, which include the one-byte
/// CSI U+009B) becomes U+FFFD; so do the bidirectional overrides and isolates that can make a
/// line read differently from what it holds. Line breaks become spaces where one line is printed.
enum TerminalText {
    /// `text` with every unsafe scalar replaced; line breaks become spaces when `singleLine`.
    /// - Complexity: O(text length).
    static func safe(_ text: String, singleLine: Bool = true) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "\n" {
                scalars.append(singleLine ? " " : scalar)
            } else if isUnsafe(scalar) {
                scalars.append("\u{FFFD}")
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// A duration in ms as people say it: "just now", "5 min ago", "3 h ago", "2 days ago".
    static func ago(_ milliseconds: UInt64) -> String {
        let seconds = milliseconds / 1000
        switch seconds {
        case ..<60: return "just now"
        case ..<3600: return "\(seconds / 60) min ago"
        case ..<86_400: return "\(seconds / 3600) h ago"
        default:
            let days = seconds / 86_400
            return "\(days) day\(days == 1 ? "" : "s") ago"
        }
    }

    /// Checks a display name given on the command line: not empty, and no control characters,
    /// line breaks or bidirectional overrides (others' terminals would show them as �).
    static func checkName(_ name: String?) throws {
        guard let name else { return }
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--name must not be empty")
        }
        guard !name.unicodeScalars.contains(where: isUnsafe), !name.contains(where: \.isNewline) else {
            throw ValidationError("--name must be one line without control characters")
        }
    }

    /// How many terminal columns `character` (a grapheme cluster) takes: 2 for East Asian wide
    /// and fullwidth characters and for emoji shown as pictures (emoji presentation, or text
    /// emoji followed by U+FE0F), 0 for a cluster of zero-width scalars alone (a lone combining
    /// mark, a zero-width joiner or space), else 1. Combining marks that follow a base character
    /// are part of its cluster and add nothing. Unsafe scalars count 1 (they are drawn as U+FFFD).
    /// - Complexity: O(scalars in the cluster).
    static func width(of character: Character) -> Int {
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return 0 }
        if isUnsafe(first) { return 1 }
        let properties = first.properties
        if isWide(first) || properties.isEmojiPresentation { return 2 }
        if properties.isEmoji, scalars.contains("\u{FE0F}") { return 2 }
        switch properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: return first.value == 0x200B ? 0 : 1
        }
    }

    /// The columns `text` takes on a terminal (see ``width(of:)``).
    /// - Complexity: O(text length).
    static func width(of text: some StringProtocol) -> Int {
        text.reduce(0) { $0 + width(of: $1) }
    }

    /// East Asian Wide and Fullwidth blocks (Unicode's EastAsianWidth W and F, by block): Hangul
    /// Jamo, CJK radicals to Yi, Hangul syllables, CJK compatibility, vertical and small forms,
    /// fullwidth forms, and the supplementary ideograph planes.
    private static func isWide(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x1100 ... 0x115F, 0x2E80 ... 0x303E, 0x3041 ... 0x33FF, 0x3400 ... 0x4DBF, 0x4E00 ... 0x9FFF,
             0xA000 ... 0xA4CF, 0xA960 ... 0xA97F, 0xAC00 ... 0xD7A3, 0xF900 ... 0xFAFF, 0xFE10 ... 0xFE19,
             0xFE30 ... 0xFE6F, 0xFF00 ... 0xFF60, 0xFFE0 ... 0xFFE6, 0x1F300 ... 0x1F64F, 0x1F900 ... 0x1F9FF,
             0x20000 ... 0x2FFFD, 0x30000 ... 0x3FFFD:
            true
        default:
            false
        }
    }

    /// True for C0 controls, DEL, C1 controls and bidirectional overrides and isolates.
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00 ..< 0x20, 0x7F ... 0x9F, 0x202A ... 0x202E, 0x2066 ... 0x2069: true
        default: false
        }
    }
}
