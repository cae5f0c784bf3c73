/**
 * The CSRF token for pages and SPAs (CSRF=true; README "CSRF protection"): the masked token to send
 * back in the `X-CSRFToken` header or the `csrfmiddlewaretoken` form field of any unsafe request. The
 * response sets the `csrftoken` cookie (or, with CSRF_USE_SESSIONS, keeps the secret in the session).
 */
import { Controller, Get, Req } from '@nestjs/common';
import { getToken } from 'nest-django-sessions';

@Controller()
export class CsrfController {
  @Get('csrf')
  async csrf(@Req() request: object): Promise<{ token: string }> {
    return { token: await getToken(request) };
  }
}
