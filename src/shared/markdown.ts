import { z } from 'zod';

/**
 * Untrusted text (comments, reasons, LLM text, plan.md excerpts) as inline markdown: control characters stripped,
 * newlines collapsed to spaces, and every character markdown or HTML gives a meaning there escaped, so a comment cannot
 * forge a bold "approved by" line, a link, a heading, a table cell or a `<script>`.
 */
export function inlineMarkdown(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- stripping control characters is the point
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '')
      .replace(/\s*[\r\n\t]+\s*/g, ' ')
      // Parentheses and "!" mean nothing without the brackets, which are escaped; "#" only where a line starts.
      .replace(/[\\`*_[\]<>|~]/g, (c) => `\\${c}`)
      .replace(/^(\s*)#/, '$1\\#')
  );
}

/** Untrusted text of several paragraphs (an LLM narrative): each paragraph as {@link inlineMarkdown}. */
export function markdownParagraphs(text: string): string {
  return text
    .split(/\n\s*\n/)
    .map(inlineMarkdown)
    .filter((p) => p.trim() !== '')
    .join('\n\n');
}

/** A link target: the URL when it is http(s) with nothing markdown could read as the link's end, else undefined. */
export function safeLink(url: string | undefined): string | undefined {
  return url !== undefined && /^https?:\/\/[^\s()<>[\]`]+$/i.test(url) ? url : undefined;
}

/** A URL that may be rendered as a link: http or https only (never javascript:, data: or file:). */
export const httpUrlSchema = z
  .string()
  .url()
  .refine((url) => /^https?:\/\//i.test(url), 'must be an http or https URL');
