import ChatCore
import Foundation
import Testing

/// WCAG 2 relative luminance and contrast, computed independently of the palette's construction.
enum WCAG {
    static func linear(_ channel: UInt8) -> Double {
        let c = Double(channel) / 255
        return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4)
    }

    static func luminance(_ color: RGB) -> Double {
        0.2126 * linear(color.red) + 0.7152 * linear(color.green) + 0.0722 * linear(color.blue)
    }

    static func contrast(_ a: Double, _ b: Double) -> Double {
        (max(a, b) + 0.05) / (min(a, b) + 0.05)
    }

    /// The HSV hue in degrees, 0 ..< 360.
    static func hue(_ color: RGB) -> Double {
        let r = Double(color.red), g = Double(color.green), b = Double(color.blue)
        let high = max(r, g, b), low = min(r, g, b), range = high - low
        guard range > 0 else { return 0 }
        let sector: Double = high == r ? (g - b) / range : high == g ? 2 + (b - r) / range : 4 + (r - g) / range
        let degrees = sector * 60
        return degrees < 0 ? degrees + 360 : degrees
    }
}

@Suite struct AppearanceTests {
    static func randomKey(_ random: inout SeededGenerator) -> ReplicaID {
        ReplicaID(bytes: (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255, using: &random) })
            ?? ReplicaID(testValue: 0)
    }

    @Test func paletteIsLargeDistinctAndReadableOnLightAndDark() {
        let palette = UserColor.palette
        #expect(palette.count >= 64)
        #expect(Set(palette).count == palette.count)
        for color in palette {
            let luminance = WCAG.luminance(color)
            #expect((0.10 ... 0.30).contains(luminance), "\(color.hex) luminance \(luminance)")
            #expect(WCAG.contrast(luminance, 1) >= 3, "\(color.hex) on white")
            #expect(WCAG.contrast(luminance, 0) >= 3, "\(color.hex) on black")
        }
    }

    @Test func paletteIsSpreadInHue() {
        let hues = UserColor.palette.map(WCAG.hue).sorted()
        let gaps = zip(hues, hues.dropFirst() + [hues[0] + 360]).map { $1 - $0 }
        #expect(gaps.max() ?? 360 < 15, "no hue gap of 15° or more: \(gaps.max() ?? 0)")
        // Twelve 30° sectors (red, orange, yellow, …), each with several colours.
        var sectors = [Int](repeating: 0, count: 12)
        for hue in hues { sectors[Int(hue / 30) % 12] += 1 }
        #expect(sectors.allSatisfy { $0 >= 3 }, "\(sectors)")
        // Neighbouring slots (the next free slot after a collision) are far apart in hue.
        let slotHues = UserColor.palette.map(WCAG.hue)
        for slot in slotHues.indices {
            let next = slotHues[(slot + 1) % slotHues.count]
            let distance = abs(slotHues[slot] - next)
            #expect(min(distance, 360 - distance) > 60, "slots \(slot) and \(slot + 1)")
        }
    }

    @Test func fnv1aMatchesTheReferenceVectors() {
        #expect(UserColor.fnv1a([]) == 0xCBF2_9CE4_8422_2325)
        #expect(UserColor.fnv1a(Array("a".utf8)) == 0xAF63_DC4C_8601_EC8C)
        #expect(UserColor.fnv1a(Array("foobar".utf8)) == 0x8594_4171_F739_67E8)
    }

    @Test func colourIsAFixedFunctionOfTheKey() throws {
        // Pinned: the same slot in every process and on every machine (Hasher would not be).
        let key = try #require(ReplicaID(bytes: (0 ..< 32).map { UInt8($0) }))
        #expect(UserColor.preferredSlot(for: key) == Int(UserColor.fnv1a((0 ..< 32).map { UInt8($0) }) % 64))
        #expect(UserColor.preferredSlot(for: key) == 5)
        #expect(UserColor.color(for: key) == UserColor.palette[5])
        #expect(UserColor.color(for: key) == UserColor.color(for: key))
    }

    @Test func hexIsHashAndSixUpperCaseDigits() {
        #expect(RGB(packed: 0x0A_0B_0C).hex == "#0A0B0C")
        #expect(RGB(red: 255, green: 0, blue: 171).hex == "#FF00AB")
        #expect(RGB(packed: 0xFF12_3456).packed == 0x12_3456)
        #expect(UserColor.palette.allSatisfy { $0.hex.count == 7 && $0.hex.first == "#" })
    }

    @Test(arguments: [UInt64(1), 2, 3, 42, 2_026, 0xDEAD_BEEF, 0x5EED_0000_0000_0001])
    func fiftyMembersGetDistinctReadableColours(seed: UInt64) {
        print("AppearanceTests seed \(seed)")
        var random = SeededGenerator(seed: seed)
        let members = (0 ..< 50).map { _ in Self.randomKey(&random) }
        let colors = UserColor.assignColors(members: members)
        #expect(colors.count == 50, "seed \(seed)")
        #expect(Set(colors.values).count == 50, "all distinct, seed \(seed)")
        for (member, color) in colors {
            let luminance = WCAG.luminance(color)
            #expect((0.10 ... 0.30).contains(luminance), "seed \(seed), \(member): \(color.hex)")
            #expect(WCAG.contrast(luminance, 1) >= 3 && WCAG.contrast(luminance, 0) >= 3, "seed \(seed)")
        }
        // Deterministic: the same set in any order, with duplicates, gives the same colours.
        var shuffled = members + members.prefix(5)
        shuffled.shuffle(using: &random)
        #expect(UserColor.assignColors(members: shuffled) == colors, "seed \(seed)")
        // The first member in key order always gets its preferred slot.
        let first = members.min() ?? members[0]
        #expect(colors[first] == UserColor.color(for: first), "seed \(seed)")
    }

    @Test func collisionsTakeTheNextFreeSlot() {
        // Find three keys with the same preferred slot; in key order they take slot, slot+1, slot+2.
        var random = SeededGenerator(seed: 7)
        print("AppearanceTests seed 7")
        var bySlot: [Int: [ReplicaID]] = [:]
        var clash: [ReplicaID] = []
        while clash.isEmpty {
            let key = Self.randomKey(&random)
            bySlot[UserColor.preferredSlot(for: key), default: []].append(key)
            if let keys = bySlot[UserColor.preferredSlot(for: key)], keys.count == 3 { clash = keys.sorted() }
        }
        let slot = UserColor.preferredSlot(for: clash[0])
        let colors = UserColor.assignColors(members: clash)
        #expect(clash.map { colors[$0] } == [0, 1, 2].map { UserColor.palette[(slot + $0) % UserColor.palette.count] })
    }

    @Test func moreMembersThanColoursStillWorks() {
        var random = SeededGenerator(seed: 99)
        print("AppearanceTests seed 99")
        let members = (0 ..< 150).map { _ in Self.randomKey(&random) }
        let colors = UserColor.assignColors(members: members)
        #expect(colors.count == 150)
        #expect(Set(colors.values).count == UserColor.palette.count, "every colour used")
        #expect(UserColor.assignColors(members: []) == [:])
    }

    @Test func identiconIsDeterministicAndSymmetric() {
        var random = SeededGenerator(seed: 11)
        print("AppearanceTests seed 11")
        var grids: Set<[[Bool]]> = []
        for _ in 0 ..< 50 {
            let key = Self.randomKey(&random)
            let grid = Identicon.grid(for: key)
            #expect(grid == Identicon.grid(for: key))
            #expect(grid.count == 5 && grid.allSatisfy { $0.count == 5 })
            #expect(grid.allSatisfy { row in (0 ..< 5).allSatisfy { row[$0] == row[4 - $0] } }, "mirrored")
            #expect(grid.joined().contains(true), "never blank")
            grids.insert(grid)

            let color = UserColor.color(for: key)
            let svg = Identicon.svg(for: key, color: color)
            #expect(svg == Identicon.svg(for: key, color: color))
            #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 5 5\""))
            #expect(svg.hasSuffix("</svg>"))
            #expect(svg.contains("<rect width=\"5\" height=\"5\" fill=\"#F0F0F0\"/>"), "light grey background")
            let filled = grid.joined().filter { $0 }.count
            #expect(svg.components(separatedBy: "<rect").count - 1 == 1 + filled)
            #expect(svg.components(separatedBy: "fill=\"\(color.hex)\"").count - 1 == filled)
            #expect(svg.components(separatedBy: "/>").count - 1 == 1 + filled, "every rect is closed")
        }
        #expect(grids.count >= 45, "50 keys give (nearly) 50 different pictures: \(grids.count)")
    }

    @Test func identiconPinned() {
        // The same key draws the same picture in every process and on every machine.
        let key = ReplicaID(testValue: 1)
        let expected = ["##.##", ".###.", "##.##", "#.#.#", "....."]
        #expect(Identicon.grid(for: key).map { $0.map { $0 ? "#" : "." }.joined() } == expected)
    }
}
