/**
 * An error answer in Vertex's shape: `{"error":{"code","message","status","details"}}`.
 * Handlers throw it; the server turns it into the HTTP response.
 */
export class VertexHttpError extends Error {
  readonly httpStatus: number;
  readonly status: string;
  readonly details: unknown[] | undefined;
  readonly headers: Record<string, string>;

  constructor(httpStatus: number, status: string, message: string, options: { details?: unknown[]; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'VertexHttpError';
    this.httpStatus = httpStatus;
    this.status = status;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  body(): { error: { code: number; message: string; status: string; details?: unknown[] } } {
    return {
      error: {
        code: this.httpStatus,
        message: this.message,
        status: this.status,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export function invalidArgument(message: string): VertexHttpError {
  return new VertexHttpError(400, 'INVALID_ARGUMENT', message);
}

export function notFound(message: string): VertexHttpError {
  return new VertexHttpError(404, 'NOT_FOUND', message);
}
