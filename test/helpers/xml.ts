/**
 * A strict little XML parser for the tests of generated SVG: elements, attributes,
 * text, comments, an XML declaration. It throws on anything malformed (an
 * unclosed or mismatched tag, a duplicate or unquoted attribute, a bare "<" or an
 * unknown entity), so a test that parses a picture also proves it is well-formed XML.
 */
export interface XmlElement {
  attributes: Record<string, string>
  children: XmlElement[]
  name: string
  text: string
}

const ENTITIES: Record<string, string> = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'"}

function decode(text: string, at: number): string {
  return text.replaceAll(/&([^;]*);|&/g, (match, name: string | undefined) => {
    if (name === undefined) throw new Error(`bare "&" near offset ${at}`)
    if (name in ENTITIES) return ENTITIES[name]
    const code = /^#x([0-9a-f]+)$/i.test(name)
      ? Number.parseInt(name.slice(2), 16)
      : /^#(\d+)$/.test(name)
        ? Number(name.slice(1))
        : Number.NaN
    if (Number.isNaN(code)) throw new Error(`unknown entity ${match} near offset ${at}`)
    return String.fromCodePoint(code)
  })
}

export function parseXml(source: string): XmlElement {
  let i = 0
  const root: XmlElement = {name: '#document', attributes: {}, children: [], text: ''}
  const stack: XmlElement[] = [root]
  const name = /[A-Za-z_:][-\w.:]*/y
  while (i < source.length) {
    const lt = source.indexOf('<', i)
    const text = source.slice(i, lt === -1 ? source.length : lt)
    if (text.includes('>')) throw new Error(`bare ">" in text near offset ${i}`)
    if (stack.length === 1 && text.trim() !== '') throw new Error(`text outside the root element near offset ${i}`)
    stack[stack.length - 1].text += decode(text, i)
    if (lt === -1) break
    i = lt
    if (source.startsWith('<!--', i)) {
      const end = source.indexOf('-->', i)
      if (end === -1) throw new Error('unclosed comment')
      i = end + 3
    } else if (source.startsWith('<?', i)) {
      const end = source.indexOf('?>', i)
      if (end === -1 || i !== 0) throw new Error(`misplaced processing instruction at ${i}`)
      i = end + 2
    } else if (source.startsWith('</', i)) {
      name.lastIndex = i + 2
      const m = name.exec(source)
      if (!m) throw new Error(`bad closing tag at ${i}`)
      const open = stack.pop()!
      if (open.name !== m[0]) throw new Error(`</${m[0]}> closes <${open.name}> at offset ${i}`)
      i = name.lastIndex
      while (/\s/.test(source[i])) i++
      if (source[i] !== '>') throw new Error(`bad closing tag at ${i}`)
      i++
    } else {
      name.lastIndex = i + 1
      const m = name.exec(source)
      if (!m) throw new Error(`bad tag at offset ${i}`)
      const element: XmlElement = {name: m[0], attributes: {}, children: [], text: ''}
      if (stack.length === 1 && root.children.length > 0) throw new Error('a second root element')
      i = name.lastIndex
      for (;;) {
        const space = /\s*/y
        space.lastIndex = i
        space.exec(source)
        const spaced = space.lastIndex > i
        i = space.lastIndex
        if (source.startsWith('/>', i)) {
          stack[stack.length - 1].children.push(element)
          i += 2
          break
        }

        if (source[i] === '>') {
          stack[stack.length - 1].children.push(element)
          stack.push(element)
          i++
          break
        }

        if (!spaced) throw new Error(`attributes need white space before them at offset ${i}`)
        const attribute = /([A-Za-z_:][-\w.:]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/y
        attribute.lastIndex = i
        const a = attribute.exec(source)
        if (!a) throw new Error(`bad attribute at offset ${i}: ${source.slice(i, i + 30)}`)
        if (a[1] in element.attributes) throw new Error(`duplicate attribute ${a[1]} at offset ${i}`)
        element.attributes[a[1]] = decode(a[3] ?? a[4], i)
        i = attribute.lastIndex
      }
    }
  }

  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is never closed`)
  if (root.children.length !== 1) throw new Error('no root element')
  return root.children[0]
}

/** Every element below (and including) `element`, depth first, that matches. */
export function findAll(element: XmlElement, match: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = []
  const walk = (e: XmlElement) => {
    if (match(e)) out.push(e)
    for (const c of e.children) walk(c)
  }

  walk(element)
  return out
}
