import {type Document, parseDocument, visit} from 'yaml'

/**
 * The placeholder language of templates/: `${a.b.c}` names a value of the render
 * context. A scalar that is exactly one placeholder takes the value's type (a
 * list, a mapping, a number); a placeholder inside other text is spliced in as
 * text. Argo CD's Go templates ({{ ... }}) are not touched.
 */
const PLACEHOLDER = /\$\{\s*([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*\}/g
const WHOLE = /^\$\{\s*([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*\}$/

export type TemplateContext = {[key: string]: unknown}

export class TemplateError extends Error {}

export function lookup(context: TemplateContext, dotted: string, where: string): unknown {
  let value: unknown = context
  for (const part of dotted.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) {
      throw new TemplateError(`${where}: unknown placeholder \${${dotted}}`)
    }

    value = (value as Record<string, unknown>)[part]
  }

  if (value === undefined) throw new TemplateError(`${where}: placeholder \${${dotted}} has no value`)
  return value
}

/** Renders one YAML template; comments and key order of the template are kept. */
export function renderTemplateDocument(text: string, context: TemplateContext, where: string): Document {
  const doc = parseDocument(text, {uniqueKeys: true})
  if (doc.errors.length > 0) throw new TemplateError(`${where}: YAML error: ${doc.errors[0].message.split('\n')[0]}`)
  // comments may name placeholders too (e.g. "values of region ${region.name}")
  const spliceText = (text: null | string | undefined): string | undefined =>
    text == null
      ? undefined
      : text.replaceAll(PLACEHOLDER, (_m, dotted: string) => String(lookup(context, dotted, where)))
  doc.commentBefore = spliceText(doc.commentBefore) ?? null
  doc.comment = spliceText(doc.comment) ?? null
  visit(doc, {
    Node(_key, node) {
      if (node.commentBefore) node.commentBefore = spliceText(node.commentBefore)
      if (node.comment) node.comment = spliceText(node.comment)
    },
    Pair(_key, pair) {
      const key = pair.key as null | {comment?: null | string; commentBefore?: null | string}
      if (key?.commentBefore) key.commentBefore = spliceText(key.commentBefore)
      if (key?.comment) key.comment = spliceText(key.comment)
    },
  })
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return
      const whole = WHOLE.exec(node.value)
      if (whole) {
        const value = lookup(context, whole[1], where)
        if (value !== null && typeof value === 'object') {
          const replacement = doc.createNode(value)
          // keep the template's comment on the key line
          if (node.comment) replacement.comment = node.comment
          return replacement
        }

        // yaml quotes a string that would read back as another type ("6550", "true")
        node.value = value
        return
      }

      node.value = node.value.replaceAll(PLACEHOLDER, (_m, dotted: string) => {
        const value = lookup(context, dotted, where)
        if (typeof value === 'object' && value !== null)
          throw new TemplateError(
            `${where}: \${${dotted}} is a ${Array.isArray(value) ? 'list' : 'mapping'} and cannot be spliced into text`,
          )
        return String(value)
      })
    },
  })
  return doc
}
