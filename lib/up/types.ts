/**
 * Up API resource types, as the OpenAPI 3.0.3 spec (`components.schemas`) describes them: the
 * JSON:API envelopes, errors, accounts, transactions, webhooks, webhook events and delivery logs.
 *
 * @module
 */

/** `AccountTypeEnum`. */
export type AccountType = "SAVER" | "TRANSACTIONAL" | "HOME_LOAN";

/** `OwnershipTypeEnum`. */
export type OwnershipType = "INDIVIDUAL" | "JOINT";

/** `TransactionStatusEnum`. */
export type TransactionStatus = "HELD" | "SETTLED";

/** `WebhookEventTypeEnum`. */
export type WebhookEventType =
  | "TRANSACTION_CREATED"
  | "TRANSACTION_SETTLED"
  | "TRANSACTION_DELETED"
  | "PING";

/** Every webhook event type, in the order the spec lists them. */
export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = [
  "TRANSACTION_CREATED",
  "TRANSACTION_SETTLED",
  "TRANSACTION_DELETED",
  "PING",
];

/** `WebhookDeliveryStatusEnum`. */
export type WebhookDeliveryStatus = "DELIVERED" | "UNDELIVERABLE" | "BAD_RESPONSE_CODE";

/** `CardPurchaseMethodEnum`. */
export type CardPurchaseMethod =
  | "BAR_CODE"
  | "OCR"
  | "CARD_PIN"
  | "CARD_DETAILS"
  | "CARD_ON_FILE"
  | "ECOMMERCE"
  | "MAGNETIC_STRIPE"
  | "CONTACTLESS";

/** `MoneyObject`: an amount of money in a currency. */
export interface MoneyObject {
  /** ISO 4217 currency code, for example `AUD`. */
  currencyCode: string;
  /** The amount as a decimal string, for example `-12.50`. */
  value: string;
  /** The amount in the currency's smallest unit, for example `-1250`. */
  valueInBaseUnits: number;
}

/** A JSON:API resource identifier: `{ type, id }`. */
export interface ResourceIdentifier<T extends string = string> {
  /** The JSON:API resource type. */
  type: T;
  /** The resource's id. */
  id: string;
}

/** `links` of a paginated list. */
export interface PageLinks {
  /** Absolute URL of the previous page, or `null` on the first. */
  prev: string | null;
  /** Absolute URL of the next page, or `null` on the last. */
  next: string | null;
}

/** A paginated list response: `{ data: [...], links: { prev, next } }`. */
export interface ListResponse<T> {
  /** The resource, or the page of resources. */
  data: T[];
  /** Links to this resource or its neighbours. */
  links: PageLinks;
}

/** A single-resource response: `{ data }`. */
export interface ResourceResponse<T> {
  /** The resource, or the page of resources. */
  data: T;
}

/** `AccountResource`. */
export interface AccountResource {
  /** The JSON:API resource type. */
  type: "accounts";
  /** The resource's id. */
  id: string;
  /** The resource's attributes, as the spec names them. */
  attributes: {
    displayName: string;
    accountType: AccountType;
    ownershipType: OwnershipType;
    balance: MoneyObject;
    createdAt: string;
  };
  /** Links to related resources. */
  relationships: {
    transactions: { links?: { related: string } };
  };
  /** Links to this resource or its neighbours. */
  links?: { self: string };
}

/** `HoldInfoObject`. */
export interface HoldInfoObject {
  /** The amount. */
  amount: MoneyObject;
  /** The amount in the foreign currency, or `null`. */
  foreignAmount: MoneyObject | null;
}

/** `RoundUpObject`. */
export interface RoundUpObject {
  /** The amount. */
  amount: MoneyObject;
  /** The part of the round-up Up boosted, or `null`. */
  boostPortion: MoneyObject | null;
}

/** `CashbackObject`. */
export interface CashbackObject {
  /** What Up shows for it. */
  description: string;
  /** The amount. */
  amount: MoneyObject;
}

/** `CardPurchaseMethodObject`. */
export interface CardPurchaseMethodObject {
  /** How the card was used. */
  method: CardPurchaseMethod;
  /** The last four digits of the card, or `null`. */
  cardNumberSuffix: string | null;
}

/** A to-one relationship whose target may be absent. */
export interface NullableRelationship<T extends string> {
  /** The resource, or the page of resources. */
  data: ResourceIdentifier<T> | null;
  /** Links to this resource or its neighbours. */
  links?: { self?: string; related?: string };
}

/** `TransactionResource`. */
export interface TransactionResource {
  /** The JSON:API resource type. */
  type: "transactions";
  /** The resource's id. */
  id: string;
  /** The resource's attributes, as the spec names them. */
  attributes: {
    status: TransactionStatus;
    rawText: string | null;
    description: string;
    message: string | null;
    isCategorizable: boolean;
    holdInfo: HoldInfoObject | null;
    roundUp: RoundUpObject | null;
    cashback: CashbackObject | null;
    amount: MoneyObject;
    foreignAmount: MoneyObject | null;
    cardPurchaseMethod: CardPurchaseMethodObject | null;
    settledAt: string | null;
    createdAt: string;
    transactionType: string | null;
    note: { text: string } | null;
    performingCustomer: { displayName: string } | null;
    /** A link that opens the transaction in Up's app; Up sends it, its spec does not list it. */
    deepLinkURL?: string;
  };
  /** Links to related resources. */
  relationships: {
    account: { data: ResourceIdentifier<"accounts">; links?: { related: string } };
    transferAccount: NullableRelationship<"accounts">;
    category: NullableRelationship<"categories">;
    parentCategory: NullableRelationship<"categories">;
    tags: { data: ResourceIdentifier<"tags">[]; links?: { self: string } };
    attachment: NullableRelationship<"attachments">;
  };
  /** Links to this resource or its neighbours. */
  links?: { self: string };
}

/** `CategoryResource`: a category and its place in the tree. */
export interface CategoryResource {
  /** The JSON:API resource type. */
  type: "categories";
  /** The resource's id. */
  id: string;
  /** The resource's attributes, as the spec names them. */
  attributes: { name: string };
  /** Links to related resources. */
  relationships: {
    parent: NullableRelationship<"categories">;
    children: { data: ResourceIdentifier<"categories">[]; links?: { related: string } };
  };
  /** Links to this resource or its neighbours. */
  links?: { self: string };
}

/** `WebhookResource`. `secretKey` is present only in the response that created it. */
export interface WebhookResource {
  /** The JSON:API resource type. */
  type: "webhooks";
  /** The resource's id. */
  id: string;
  /** The resource's attributes, as the spec names them. */
  attributes: {
    url: string;
    description: string | null;
    secretKey?: string;
    createdAt: string;
  };
  /** Links to related resources. */
  relationships: {
    logs: { links?: { related: string } };
  };
  /** Links to this resource or its neighbours. */
  links?: { self: string };
}

/** `WebhookEventResource`: the `data` of an event POSTed to a webhook URL. */
export interface WebhookEventResource {
  /** The JSON:API resource type. */
  type: "webhook-events";
  /** The resource's id. */
  id: string;
  /** The resource's attributes, as the spec names them. */
  attributes: {
    eventType: WebhookEventType;
    createdAt: string;
  };
  /** Links to related resources. */
  relationships: {
    webhook: { data: ResourceIdentifier<"webhooks">; links?: { related: string } };
    transaction?: { data: ResourceIdentifier<"transactions">; links?: { related: string } };
  };
}

/** `WebhookEventCallback`: the whole body of a webhook event request. */
export type WebhookEventCallback = ResourceResponse<WebhookEventResource>;

/** `WebhookDeliveryLogResource`: one attempt to deliver an event to a webhook URL. */
export interface WebhookDeliveryLogResource {
  /** The JSON:API resource type. */
  type: "webhook-delivery-logs";
  /** The resource's id. */
  id: string;
  /** The resource's attributes, as the spec names them. */
  attributes: {
    request: { body: string };
    response: { statusCode: number; body: string } | null;
    deliveryStatus: WebhookDeliveryStatus;
    createdAt: string;
  };
  /** Links to related resources. */
  relationships: {
    webhookEvent: { data: ResourceIdentifier<"webhook-events"> };
  };
}

/** `PingResponse` of `GET /util/ping`. */
export interface PingResponse {
  /** The ping's answer: the token's id and an emoji. */
  meta: { id: string; statusEmoji: string };
}

/** `ErrorObject`: one entry of a JSON:API `errors` array. */
export interface ErrorObject {
  /** The HTTP status, as a string. */
  status: string;
  /** A short summary, the same for every error of a kind. */
  title: string;
  /** What went wrong in this case. */
  detail: string;
  /** Which request parameter (`parameter`) or body member (`pointer`) was at fault. */
  source?: { parameter?: string; pointer?: string };
}

/** `ErrorResponse`. */
export interface ErrorResponse {
  /** Every error of the response. */
  errors: ErrorObject[];
}
