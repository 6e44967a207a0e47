/** Adjusting the response of a handler whose body is still encoded by its success schema. */
import { HttpApp, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"

export const setResponseHeader = (name: string, value: string) =>
  HttpApp.appendPreResponseHandler((_request, response) =>
    Effect.succeed(HttpServerResponse.setHeader(response, name, value)))

export const setResponseStatus = (status: number) =>
  HttpApp.appendPreResponseHandler((_request, response) =>
    Effect.succeed(HttpServerResponse.setStatus(response, status)))
