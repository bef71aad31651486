import {inflateSync} from 'node:zlib'

/** A decoded 8-bit PNG (what Chromium's --screenshot writes): RGBA per pixel. */
export interface Png {
  height: number
  /** [r, g, b] at (x, y) */
  rgb(x: number, y: number): [number, number, number]
  width: number
}

/** Decodes a non-interlaced 8-bit RGB or RGBA PNG (the five row filters included). */
export function decodePng(data: Buffer): Png {
  if (data.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG')
  let offset = 8
  let width = 0
  let height = 0
  let channels = 0
  const idat: Buffer[] = []
  while (offset < data.length) {
    const length = data.readUInt32BE(offset)
    const type = data.toString('latin1', offset + 4, offset + 8)
    const body = data.subarray(offset + 8, offset + 8 + length)
    // eslint-disable-next-line unicorn/prefer-switch -- IEND's `break` leaves the while loop
    if (type === 'IHDR') {
      width = body.readUInt32BE(0)
      height = body.readUInt32BE(4)
      // IHDR after width and height: bit depth, colour type, compression, filter, interlace
      const [depth, colorType] = body.subarray(8, 10)
      const interlace = body[12]
      if (depth !== 8 || interlace !== 0 || (colorType !== 2 && colorType !== 6))
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colorType}, interlace ${interlace}`)
      channels = colorType === 6 ? 4 : 3
    } else if (type === 'IDAT') idat.push(body)
    else if (type === 'IEND') break
    offset += 12 + length
  }

  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const pixels = Buffer.alloc(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[y * stride + i - channels] : 0
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0
      const c = y > 0 && i >= channels ? pixels[(y - 1) * stride + i - channels] : 0
      const p = a + b - c
      const pa = Math.abs(p - a)
      const pb = Math.abs(p - b)
      const pc = Math.abs(p - c)
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][filter]
      if (predictor === undefined) throw new Error(`bad PNG filter ${filter}`)
      pixels[y * stride + i] = (line[i] + predictor) & 0xff
    }
  }

  return {
    width,
    height,
    rgb(x, y) {
      const i = Math.round(y) * stride + Math.round(x) * channels
      return [pixels[i], pixels[i + 1], pixels[i + 2]]
    },
  }
}

export const hexRgb = (hex: string): [number, number, number] =>
  [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [number, number, number]
