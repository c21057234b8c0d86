/**
 * An error answer in Cloud Storage's JSON API shape:
 * `{"error":{"code","message","errors":[{"message","domain":"global","reason"}]}}`.
 */
export class GcsHttpError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'GcsHttpError';
  }

  body(): { error: { code: number; message: string; errors: { message: string; domain: string; reason: string }[] } } {
    return { error: { code: this.httpStatus, message: this.message, errors: [{ message: this.message, domain: 'global', reason: this.reason }] } };
  }
}

export function noSuchObject(bucket: string, name: string): GcsHttpError {
  return new GcsHttpError(404, 'notFound', `No such object: ${bucket}/${name}`);
}

export function badRequest(message: string): GcsHttpError {
  return new GcsHttpError(400, 'invalid', message);
}

export function preconditionFailed(): GcsHttpError {
  return new GcsHttpError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
}
