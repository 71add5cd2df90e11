/** Shared TypeBox schemas and the limits they encode (protocol-v1.md, api-v1.md). */
import Type from 'typebox'

export const USERNAME_PATTERN = '^[a-z0-9][a-z0-9._-]{2,31}$'
export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 256

export const Username = Type.String({ pattern: USERNAME_PATTERN, description: '3..32 chars of [a-z0-9._-], starting with a letter or digit' })
export const Password = Type.String({ minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX, description: `${PASSWORD_MIN}..${PASSWORD_MAX} characters, normalised to Unicode NFC` })

export const Credentials = Type.Object({ username: Username, password: Password }, { additionalProperties: false })

export const KeyResponse = Type.Object({
  username: Type.String(),
  keyId: Type.String(),
  signingKey: Type.String({ description: 'The HMAC key: the UTF-8 bytes of this string, exactly as received' }),
  expiresAt: Type.String({ format: 'date-time' })
})

export const NoContent = Type.Null({ description: 'No content' })

