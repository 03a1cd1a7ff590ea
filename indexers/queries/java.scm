; Definitions
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.function
(constructor_declaration name: (identifier) @name) @definition.function
(compact_constructor_declaration name: (identifier) @name) @definition.function
; A field holding an anonymous class (its methods are TypeAdapters.CURRENCY.read) or a lambda
(field_declaration declarator: (variable_declarator name: (identifier) @name
  value: (object_creation_expression (class_body)))) @definition.class
(field_declaration declarator: (variable_declarator name: (identifier) @name value: (lambda_expression))) @definition.function
; An enum constant with a body of its own: Op.PLUS.apply
(enum_constant name: (identifier) @name body: (class_body)) @definition.class

; References (the `ref_text` hook joins a method_invocation's receiver and name)
(method_invocation) @reference.call
(object_creation_expression type: [(type_identifier) (scoped_type_identifier)] @reference.call)
(object_creation_expression type: (generic_type [(type_identifier) (scoped_type_identifier)] @reference.call))
(superclass [(type_identifier) (scoped_type_identifier)] @reference.inherit)
; The class or interface a field's anonymous class extends
(field_declaration declarator: (variable_declarator value: (object_creation_expression
  type: [(type_identifier) (scoped_type_identifier)] @reference.inherit (class_body))))
(field_declaration declarator: (variable_declarator value: (object_creation_expression
  type: (generic_type [(type_identifier) (scoped_type_identifier)] @reference.inherit) (class_body))))
(superclass (generic_type [(type_identifier) (scoped_type_identifier)] @reference.inherit))
(super_interfaces (type_list [(type_identifier) (scoped_type_identifier)] @reference.inherit))
(super_interfaces (type_list (generic_type [(type_identifier) (scoped_type_identifier)] @reference.inherit)))
(extends_interfaces (type_list [(type_identifier) (scoped_type_identifier)] @reference.inherit))
(extends_interfaces (type_list (generic_type [(type_identifier) (scoped_type_identifier)] @reference.inherit)))

; Imports
(import_declaration) @import
