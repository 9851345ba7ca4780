import Faces
import Imaging
import VigilCore

/// A stand-in face detector for tests of letterboxing and tiling: it "detects" every pure red
/// square of at least `minSide` pixels in its input, like a real detector that misses faces
/// below a size. Keypoints: the square's centre.
public final class RedSquareDetector: DetectorModel {
    public let inputSize: Size
    public let minSide: Int
    public private(set) var calls = 0

    public init(inputSize: Size = Size(width: 192, height: 192), minSide: Int = 6) {
        self.inputSize = inputSize
        self.minSide = minSide
    }

    public func detect(input: RGBImage) throws -> [Detection] {
        calls += 1
        let w = input.width, h = input.height
        var seen = [Bool](repeating: false, count: w * h)
        func red(_ x: Int, _ y: Int) -> Bool {
            let p = input.pixel(x: x, y: y)
            return p.0 > 180 && p.1 < 80 && p.2 < 80
        }
        var out: [Detection] = []
        for y in 0..<h {
            for x in 0..<w where !seen[y * w + x] && red(x, y) {
                // The square's extent along its top row and left column.
                var x1 = x, y1 = y
                while x1 + 1 < w && red(x1 + 1, y) { x1 += 1 }
                while y1 + 1 < h && red(x, y1 + 1) { y1 += 1 }
                for yy in y...y1 { for xx in x...x1 { seen[yy * w + xx] = true } }
                let side = min(x1 - x + 1, y1 - y + 1)
                guard side >= minSide else { continue }
                let box = Box(x: Double(x), y: Double(y), width: Double(x1 - x + 1), height: Double(y1 - y + 1))
                out.append(Detection(box: box, score: 0.9, landmarks: [box.center]))
            }
        }
        return out
    }
}
