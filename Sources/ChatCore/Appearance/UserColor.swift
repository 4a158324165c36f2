/// A 24-bit sRGB colour.
public struct RGB: Sendable, Hashable, CustomStringConvertible {
    /// The red channel.
    public var red: UInt8
    /// The green channel.
    public var green: UInt8
    /// The blue channel.
    public var blue: UInt8

    /// Creates a colour from its three channels.
    public init(red: UInt8, green: UInt8, blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    /// Creates a colour from `0xRRGGBB` (bits above the low 24 are ignored), as in ``Profile/colour``.
    public init(packed: UInt32) {
        red = UInt8(truncatingIfNeeded: packed >> 16)
        green = UInt8(truncatingIfNeeded: packed >> 8)
        blue = UInt8(truncatingIfNeeded: packed)
    }

    /// The colour as `0xRRGGBB`.
    public var packed: UInt32 { UInt32(red) << 16 | UInt32(green) << 8 | UInt32(blue) }

    /// The colour as `#RRGGBB` (upper-case hex digits).
    public var hex: String {
        let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]
        var out = "#"
        for channel in [red, green, blue] {
            out.append(digits[Int(channel >> 4)])
            out.append(digits[Int(channel & 0x0F)])
        }
        return out
    }

    public var description: String { hex }
}

/// Colours for users: deterministic from the user's key, distinct within a conversation, and
/// readable as text or fill on both light and dark backgrounds.
///
/// The ``palette`` has 64 colours whose WCAG relative luminance lies in [0.15, 0.25] (inside the
/// band [0.10, 0.30] that gives a contrast ratio of at least 3:1 against both white and black).
/// They are 64 evenly spaced HSL hues, alternating between two saturation and luminance tiers so
/// that hue neighbours still differ; slot `i` holds hue `23 · i mod 64`, so the next slot after a
/// taken one has a far-away hue.
///
/// A user's preferred slot is `fnv1a(key bytes) mod 64` (64-bit FNV-1a: stable on every machine
/// and in every process, unlike `Hasher`, which is seeded per process). ``assignColors(members:)``
/// resolves collisions within one conversation.
public enum UserColor {
    /// The palette, in slot order.
    public static let palette: [RGB] = [
        0xDD1818, 0x279B39, 0x804EEB, 0xC07430, 0x0E8055, 0xBD5FD7, 0x78720D, 0x28939F,
        0xCD179F, 0x679325, 0x186DD9, 0xD75D80, 0x1D820E, 0x7F7BDE, 0xCD3917, 0x26994E,
        0x9540EA, 0xAA7F2B, 0x0E7D69, 0xD051D4, 0x69760D, 0x2E90B7, 0xD31781, 0x539626,
        0x3864E9, 0xD7616C, 0x0E8216, 0x8D76DD, 0xB75114, 0x269863, 0xAC28E7, 0x988626,
        0x0E7D7D, 0xD453C0, 0x58790D, 0x3F8BCF, 0xD71860, 0x3F9926, 0x555EEC, 0xD56459,
        0x0E822B, 0x9C71DC, 0x9F6112, 0x269778, 0xBB17D3, 0x888C23, 0x107992, 0xD557AA,
        0x467D0E, 0x5B86D6, 0xDB183D, 0x2A9B27, 0x6A58EC, 0xD06A42, 0x0E8140, 0xAC6ADA,
        0x8A6C0F, 0x25958B, 0xC516BB, 0x789024, 0x1375B0, 0xD65B95, 0x32800E, 0x7080DB,
    ].map(RGB.init(packed:))

    /// 64-bit FNV-1a over `bytes` (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
    /// - Complexity: O(bytes).
    public static func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// The palette slot a user gets when nobody else in the conversation holds it.
    public static func preferredSlot(for user: ReplicaID) -> Int {
        Int(fnv1a(user.bytes) % UInt64(palette.count))
    }

    /// The user's colour on its own (its preferred slot), when no member list is at hand.
    public static func color(for user: ReplicaID) -> RGB {
        palette[preferredSlot(for: user)]
    }

    /// Distinct colours for the members of one conversation: members are taken in key order, each
    /// gets its preferred slot or else the next free one (wrapping). The result depends only on
    /// the set of members. Past 64 members the palette is reused from a fresh round.
    /// - Complexity: O(n log n) for n members, plus O(n) per collision probe.
    public static func assignColors(members: some Sequence<ReplicaID>) -> [ReplicaID: RGB] {
        let sorted = Set(members).sorted()
        var taken = [Bool](repeating: false, count: palette.count)
        var takenCount = 0
        var colors: [ReplicaID: RGB] = [:]
        colors.reserveCapacity(sorted.count)
        for member in sorted {
            if takenCount == palette.count {
                taken = [Bool](repeating: false, count: palette.count)
                takenCount = 0
            }
            var slot = preferredSlot(for: member)
            while taken[slot] { slot = (slot + 1) % palette.count }
            taken[slot] = true
            takenCount += 1
            colors[member] = palette[slot]
        }
        return colors
    }
}
