// Every customer id the web app shows links to the customer's page: dataset tables and the rows
// behind a number, top customers, a cohort's customers, a movement's customers. They all make
// their cell here, so a new table of customers cannot forget the link.

import { el } from "./lib.js";

const CUSTOMER_ID = /^cus_[A-Za-z0-9_]+$/;

export function isCustomerId(value) {
  return typeof value === "string" && CUSTOMER_ID.test(value);
}

export function customerHref(connectionId, id) {
  return `/data/${encodeURIComponent(connectionId)}/customers/${encodeURIComponent(id)}`;
}

// The id as a link to its page (the text alone when it is no customer id or no connection is known).
export function customerLink(connectionId, id, text = id) {
  if (!connectionId || !isCustomerId(id)) return text;
  return el("a", { href: customerHref(connectionId, id), "data-customer-link": id }, text);
}
