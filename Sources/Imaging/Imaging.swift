// Imaging: everything between a captured frame and the pixels a detector sees.
//
// Why it is one module: decoding (TurboJPEG, raw Y'CbCr), resizing, cropping and warping all
// run per frame on a small ARM board, share one image type (`RGBImage`) and one error type
// (`ImagingError`), and are the only code allowed to touch libturbojpeg, libpng and libwebp (via CTurboJPEG, CPNG, CWebP).
//
// Map of the files (one job each):
// - RGBImage.swift            the image value type
// - ImagingError.swift        what can go wrong, as values (bad input never traps)
// - ChromaSubsampling.swift   JPEG chroma layouts, and JPEGHeader
// - TurboJPEGScaling.swift    TurboJPEG's DCT scaling factors and the scaled-size choice
// - JPEGDecoder.swift         MJPEG/JPEG -> RGB with DCT-domain downscaling
// - JPEGEncoder.swift         RGB -> JPEG (snapshots, test fixtures)
// - PNGDecoder.swift          still PNG -> RGB (libpng simplified API via CPNG; offline commands only)
// - WebPDecoder.swift         still WebP -> RGB (libwebp via CWebP; offline commands only)
// - ColorConversion.swift     BT.601 limited-range Y'CbCr -> RGB for YUYV/NV12/GREY frames
// - FrameDecoder.swift        any captured `Frame` -> RGB
// - Resize.swift, Crop.swift, Warp.swift   geometry on RGBImage
// - AffineTransform.swift     2-D affine maps and the least-squares similarity fit
