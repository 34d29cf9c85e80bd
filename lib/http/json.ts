/**
 * JSON bodies: checks the media type and parses `event.bodyBytes` into `event.jsonBody`.
 * middy's http-json-body-parser is not used because it overwrites `event.body` in place and
 * answers malformed JSON with 415; here malformed JSON is a 400 `invalid_json` naming where it
 * broke, and a wrong media type the 415.
 */
import { SktraceError } from '../errors.ts';
import { parseJson } from '../trace/float.ts';
import { type HttpMiddleware, type HttpRequest, header } from './event.ts';

// application/json, or any +json type (RFC 6839), with parameters such as charset.
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json\s*(;.*)?$/i;

export function parseJsonBody(): HttpMiddleware {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return {
    before: (request: HttpRequest) => {
      const { event } = request;
      const contentType = header(event, 'content-type');
      if (contentType === undefined || !JSON_MEDIA_TYPE.test(contentType.trim())) {
        throw new SktraceError(
          'unsupported_media_type',
          `Content-Type must be application/json, got ${contentType === undefined ? 'none' : JSON.stringify(contentType)}`,
          { contentType },
        );
      }
      const bytes =
        event.bodyBytes ?? Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
      let text: string;
      try {
        text = utf8.decode(bytes);
      } catch (err) {
        throw new SktraceError(
          'invalid_json',
          'the body is not valid UTF-8 (RFC 8259 §8.1)',
          {},
          { cause: err },
        );
      }
      if (text.trim() === '')
        throw new SktraceError('invalid_json', 'the body is empty: expected a JSON document');
      try {
        // Integral floats (`2.0`) stay floats, as serde_json reads them (lib/trace/float.ts).
        event.jsonBody = parseJson(text);
      } catch (err) {
        throw new SktraceError(
          'invalid_json',
          `the body is not valid JSON: ${(err as Error).message}`,
          {},
          { cause: err },
        );
      }
    },
  };
}
